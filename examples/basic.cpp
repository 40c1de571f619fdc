// examples/basic.cpp: actk the way training code calls it, on whatever the pointers say (here
// host memory, so the CPU reference path): a forward, a backward from the output, the by-name
// lookup, and an error. Runs as a test (examples_basic).
#include <actk/actk.h>

#include <cstdio>
#include <vector>

int main() {
  std::vector<float> x = {-3.0f, -0.5f, 0.0f, 0.5f, 3.0f}, y(x.size()), dy(x.size(), 1.0f), dx(x.size());
  const auto n = static_cast<std::int64_t>(x.size());

  actk::forward(actk::Op::gelu, x.data(), y.data(), n);
  actk::backward(actk::Op::sigmoid, actk::From::input, x.data(), dy.data(), dx.data(), n);
  std::printf("%8s %12s %14s\n", "x", "gelu(x)", "sigmoid'(x)");
  for (std::size_t i = 0; i < x.size(); ++i) std::printf("%8.3f %12.6f %14.6f\n", x[i], y[i], dx[i]);

  // by name, with parameters in list order (softplus: beta, threshold), backward from the output
  const actk::Op sp = actk::op_from_name("softplus");
  actk::forward(sp, x.data(), y.data(), n, {2.0, 10.0});
  actk::backward(sp, actk::From::output, y.data(), dy.data(), dx.data(), n, {2.0, 10.0});
  std::printf("softplus(beta=2)'(3) from y = %.6f\n", dx[4]);

  try {
    actk::forward(actk::Op::softshrink, x.data(), y.data(), n, {-1.0});
  } catch (const actk::Error& e) {
    std::printf("expected error: %s\n", e.what());
    return dx[4] > 0.99f && dx[4] <= 1.0f ? 0 : 1;
  }
  return 1;
}
