#include <actk/functors.h>

#include <cstdio>

__global__ void silu_inplace(float* v, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) v[i] = actk::ops::Silu::forward(v[i], actk::P<float>::make(0.0, 0.0));
}

int main() {
  // compiles and links with actk::headers alone; runs only where there is a GPU
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    std::printf("consumer_kernel: built; no GPU to run on\n");
    return 0;
  }
  float* d;
  cudaMalloc(&d, 4 * sizeof(float));
  silu_inplace<<<1, 32>>>(d, 4);
  const bool ok = cudaDeviceSynchronize() == cudaSuccess;
  cudaFree(d);
  std::printf("consumer_kernel: %s\n", ok ? "ran" : "failed");
  return ok ? 0 : 1;
}
