// examples/mlp_gpu.cu: the MLP example's training loop on the GPU: cuBLAS for the matrix
// products and the SGD step, actk for bias + gelu, the logits' bias, log-softmax and every
// backward (dbias included), all on the default stream with device pointers.
#include <actk/actk.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>

#include "mlp.h"

namespace mlp {

namespace {

#define MLP_CK(e)                                                                  \
  do {                                                                             \
    if ((e) != 0) {                                                                \
      std::fprintf(stderr, "%s failed at %s:%d\n", #e, __FILE__, __LINE__);        \
      std::exit(1);                                                                \
    }                                                                              \
  } while (0)

float* up(const std::vector<float>& h) {
  float* d = nullptr;
  MLP_CK(cudaMalloc(&d, h.size() * sizeof(float)));
  MLP_CK(cudaMemcpy(d, h.data(), h.size() * sizeof(float), cudaMemcpyHostToDevice));
  return d;
}
float* zeros(std::size_t n) {
  float* d = nullptr;
  MLP_CK(cudaMalloc(&d, n * sizeof(float)));
  MLP_CK(cudaMemset(d, 0, n * sizeof(float)));
  return d;
}

/// Row-major C[m,n] = op(A)[m,k] * op(B)[k,n] through column-major cuBLAS (C^T = op(B)^T op(A)^T).
void gemm(cublasHandle_t h, bool ta, bool tb, int m, int n, int k, const float* a, const float* b, float* c) {
  const float one = 1.0f, zero = 0.0f;
  MLP_CK(cublasSgemm(h, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &one, b, tb ? k : n, a,
                     ta ? m : k, &zero, c, n));
}

}  // namespace

std::vector<float> train_gpu(const Data& d, Params p, int steps, float lr, float* accuracy) {
  const int n = d.n, h = p.hidden;
  cublasHandle_t cb;
  MLP_CK(cublasCreate(&cb));
  std::vector<float> dlogp_h(n * 2, 0.0f);
  for (int i = 0; i < n; ++i) dlogp_h[i * 2 + d.label[i]] = -1.0f / static_cast<float>(n);
  float *x = up(d.x), *w1 = up(p.w1), *b1 = up(p.b1), *w2 = up(p.w2), *b2 = up(p.b2), *dlogp = up(dlogp_h);
  float *z1 = zeros(n * h), *a1 = zeros(n * h), *logits = zeros(n * 2), *logp = zeros(n * 2), *dlogits = zeros(n * 2);
  float *dh = zeros(n * h), *dz1 = zeros(n * h), *dw1 = zeros(2 * h), *db1 = zeros(h), *dw2 = zeros(h * 2), *db2 = zeros(2);
  std::vector<float> losses, logp_h(n * 2);
  const float neg_lr = -lr;
  for (int step = 0; step < steps; ++step) {
    gemm(cb, false, false, n, h, 2, x, w1, z1);
    actk::bias_act_forward(actk::Op::gelu, actk::DType::float32, z1, b1, a1, n, h);
    gemm(cb, false, false, n, 2, h, a1, w2, logits);
    actk::bias_act_forward(actk::Op::identity, actk::DType::float32, logits, b2, logits, n, 2);
    actk::softmax_forward(actk::DType::float32, logits, logp, n, 2, 1, actk::softmax_log);
    MLP_CK(cudaMemcpy(logp_h.data(), logp, logp_h.size() * sizeof(float), cudaMemcpyDeviceToHost));
    double loss = 0;
    for (int i = 0; i < n; ++i) loss -= logp_h[i * 2 + d.label[i]];
    losses.push_back(static_cast<float>(loss / n));
    actk::softmax_backward(actk::DType::float32, logp, dlogp, dlogits, n, 2, 1, actk::softmax_log);
    actk::bias_act_backward(actk::Op::identity, actk::DType::float32, dlogits, nullptr, dlogits, dlogits, db2, n, 2);
    gemm(cb, true, false, h, 2, n, a1, dlogits, dw2);
    gemm(cb, false, true, n, h, 2, dlogits, w2, dh);
    actk::bias_act_backward(actk::Op::gelu, actk::DType::float32, z1, b1, dh, dz1, db1, n, h);
    gemm(cb, true, false, 2, h, n, x, dz1, dw1);
    MLP_CK(cublasSaxpy(cb, 2 * h, &neg_lr, dw1, 1, w1, 1));
    MLP_CK(cublasSaxpy(cb, h, &neg_lr, db1, 1, b1, 1));
    MLP_CK(cublasSaxpy(cb, 2 * h, &neg_lr, dw2, 1, w2, 1));
    MLP_CK(cublasSaxpy(cb, 2, &neg_lr, db2, 1, b2, 1));
  }
  MLP_CK(cudaDeviceSynchronize());
  int right = 0;
  for (int i = 0; i < n; ++i) right += (logp_h[i * 2 + 1] > logp_h[i * 2]) == (d.label[i] == 1);
  *accuracy = static_cast<float>(right) / static_cast<float>(n);
  for (float* q : {x, w1, b1, w2, b2, dlogp, z1, a1, logits, logp, dlogits, dh, dz1, dw1, db1, dw2, db2}) cudaFree(q);
  cublasDestroy(cb);
  return losses;
}

}  // namespace mlp
