// examples/mlp.cpp: a 2-layer MLP classifier trained on a synthetic two-spirals data set the way
// training code uses actk: matrix products (here plain loops on the CPU; cuBLAS on the GPU in
// mlp_gpu.cu), actk's fused bias + gelu, bias + identity for the logits, log-softmax and its
// backward for the cross-entropy gradient, and dbias from bias_act_backward. It prints the loss
// as it falls and the final accuracy.
//   actk_example_mlp [steps] [--gpu]      (--gpu needs a CUDA build and a GPU)
// Exit status 0 when the loss fell to less than half of its start.
#include <actk/actk.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "mlp.h"

namespace mlp {

Data two_spirals(int per_class, unsigned seed) {
  Data d;
  std::uint64_t s = seed;
  auto uni = [&] {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<float>(s >> 40) / static_cast<float>(1 << 24);
  };
  for (int c = 0; c < 2; ++c)
    for (int i = 0; i < per_class; ++i) {
      const float t = 0.25f + 3.0f * static_cast<float>(i) / static_cast<float>(per_class);  // radius and angle
      const float a = t * 2.0f + static_cast<float>(c) * 3.14159265f;
      d.x.push_back(t * std::cos(a) + 0.05f * (uni() - 0.5f));
      d.x.push_back(t * std::sin(a) + 0.05f * (uni() - 0.5f));
      d.label.push_back(c);
    }
  d.n = 2 * per_class;
  return d;
}

Params init(int hidden, unsigned seed) {
  Params p;
  p.hidden = hidden;
  std::uint64_t s = seed;
  auto gauss = [&] {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    const double u1 = (static_cast<double>(s >> 11) + 1) * 0x1p-53;
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    const double u2 = static_cast<double>(s >> 11) * 0x1p-53;
    return static_cast<float>(std::sqrt(-2 * std::log(u1)) * std::cos(6.283185307179586 * u2));
  };
  p.w1.resize(2 * hidden);
  for (auto& v : p.w1) v = gauss() * 1.0f;
  p.b1.assign(hidden, 0.0f);
  p.w2.resize(hidden * 2);
  for (auto& v : p.w2) v = gauss() * std::sqrt(1.0f / static_cast<float>(hidden));
  p.b2.assign(2, 0.0f);
  return p;
}

/// C[m,n] (+)= A[m,k] * B[k,n] with optional transposes, row-major (the CPU's matmul).
static void gemm(bool ta, bool tb, int m, int n, int k, const float* a, const float* b, float* c) {
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double s = 0;
      for (int l = 0; l < k; ++l) s += static_cast<double>(ta ? a[l * m + i] : a[i * k + l]) * (tb ? b[j * k + l] : b[l * n + j]);
      c[i * n + j] = static_cast<float>(s);
    }
}

std::vector<float> train_cpu(const Data& d, Params p, int steps, float lr, float* accuracy) {
  const int n = d.n, h = p.hidden;
  std::vector<float> z1(n * h), a1(n * h), logits(n * 2), logp(n * 2), dlogp(n * 2), dlogits(n * 2), dh(n * h), dz1(n * h);
  std::vector<float> dw1(2 * h), db1(h), dw2(h * 2), db2(2), losses;
  for (int step = 0; step < steps; ++step) {
    // forward: z1 = x W1; a1 = gelu(z1 + b1); logits = a1 W2 + b2; logp = log_softmax(logits)
    gemm(false, false, n, h, 2, d.x.data(), p.w1.data(), z1.data());
    actk::bias_act_forward(actk::Op::gelu, actk::DType::float32, z1.data(), p.b1.data(), a1.data(), n, h);
    gemm(false, false, n, 2, h, a1.data(), p.w2.data(), logits.data());
    actk::bias_act_forward(actk::Op::identity, actk::DType::float32, logits.data(), p.b2.data(), logits.data(), n, 2);
    actk::softmax_forward(actk::DType::float32, logits.data(), logp.data(), n, 2, 1, actk::softmax_log);
    double loss = 0;
    for (int i = 0; i < n; ++i) loss -= logp[i * 2 + d.label[i]];
    losses.push_back(static_cast<float>(loss / n));
    // backward: d loss / d logp = -onehot / n; through log-softmax; then the layers
    for (int i = 0; i < n; ++i)
      for (int c = 0; c < 2; ++c) dlogp[i * 2 + c] = c == d.label[i] ? -1.0f / static_cast<float>(n) : 0.0f;
    actk::softmax_backward(actk::DType::float32, logp.data(), dlogp.data(), dlogits.data(), n, 2, 1, actk::softmax_log);
    actk::bias_act_backward(actk::Op::identity, actk::DType::float32, dlogits.data(), nullptr, dlogits.data(), dlogits.data(),
                            db2.data(), n, 2);  // db2 = column sums of dlogits
    gemm(true, false, h, 2, n, a1.data(), dlogits.data(), dw2.data());
    gemm(false, true, n, h, 2, dlogits.data(), p.w2.data(), dh.data());
    actk::bias_act_backward(actk::Op::gelu, actk::DType::float32, z1.data(), p.b1.data(), dh.data(), dz1.data(), db1.data(), n, h);
    gemm(true, false, 2, h, n, d.x.data(), dz1.data(), dw1.data());
    for (int i = 0; i < 2 * h; ++i) p.w1[i] -= lr * dw1[i];
    for (int i = 0; i < h; ++i) p.b1[i] -= lr * db1[i];
    for (int i = 0; i < 2 * h; ++i) p.w2[i] -= lr * dw2[i];
    for (int i = 0; i < 2; ++i) p.b2[i] -= lr * db2[i];
  }
  int right = 0;
  for (int i = 0; i < n; ++i) right += (logp[i * 2 + 1] > logp[i * 2]) == (d.label[i] == 1);
  *accuracy = static_cast<float>(right) / static_cast<float>(n);
  return losses;
}

}  // namespace mlp

int main(int argc, char** argv) {
  int steps = 600;
  bool gpu = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--gpu") == 0) gpu = true;
    else steps = std::atoi(argv[i]);
  }
  const mlp::Data d = mlp::two_spirals(128, 7);
  const mlp::Params p0 = mlp::init(64, 11);
  const float lr = 0.5f;
  float acc = 0;
  std::vector<float> losses;
  if (gpu) {
#if defined(ACTK_MLP_GPU)
    if (!actk::cuda_available()) {
      const char* req = std::getenv("ACTK_REQUIRE_GPU");
      const bool required = req != nullptr && *req != '\0' && std::strcmp(req, "0") != 0;
      std::printf("--gpu: no usable GPU%s\n", required ? ": FAILED (ACTK_REQUIRE_GPU is set)" : "");
      return required ? 1 : 77;
    }
    losses = mlp::train_gpu(d, p0, steps, lr, &acc);
    // CPU and GPU agree on the first steps (same data, same initial weights)
    float cacc = 0;
    const std::vector<float> cpu = mlp::train_cpu(d, p0, 5, lr, &cacc);
    for (int i = 0; i < 5 && i < static_cast<int>(losses.size()); ++i) {
      std::printf("step %d: loss GPU %.6f CPU %.6f\n", i, losses[i], cpu[i]);
      if (std::fabs(losses[i] - cpu[i]) > 1e-3f * (1 + std::fabs(cpu[i]))) {
        std::printf("GPU and CPU losses differ\n");
        return 1;
      }
    }
#else
    std::printf("--gpu: this build has no CUDA\n");
    return 77;
#endif
  } else {
    losses = mlp::train_cpu(d, p0, steps, lr, &acc);
  }
  for (std::size_t i = 0; i < losses.size(); i += losses.size() / 10 > 0 ? losses.size() / 10 : 1)
    std::printf("step %4zu  loss %.4f\n", i, static_cast<double>(losses[i]));
  std::printf("final loss %.4f (from %.4f), accuracy %.1f%% on %d points\n", static_cast<double>(losses.back()),
              static_cast<double>(losses.front()), 100.0 * acc, d.n);
  return losses.back() < 0.5f * losses.front() ? 0 : 1;
}
