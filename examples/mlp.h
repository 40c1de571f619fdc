// examples/mlp.h: the MLP example's data, parameters and the two training loops.
#pragma once

#include <vector>

namespace mlp {

struct Data {
  int n = 0;
  std::vector<float> x;  // [n, 2]
  std::vector<int> label;
};

struct Params {
  int hidden = 0;
  std::vector<float> w1, b1, w2, b2;  // [2, h], [h], [h, 2], [2]
};

Data two_spirals(int per_class, unsigned seed);
Params init(int hidden, unsigned seed);
/// Full-batch SGD; returns the loss at every step and the final training accuracy.
std::vector<float> train_cpu(const Data& d, Params p, int steps, float lr, float* accuracy);
std::vector<float> train_gpu(const Data& d, Params p, int steps, float lr, float* accuracy);

}  // namespace mlp
