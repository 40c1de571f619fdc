#include <actk/actk.h>

#include <cstdio>

int main() {
  const float x[3] = {-1.0f, 0.0f, 2.0f};
  float y[3];
  actk::forward(actk::Op::relu6, x, y, 3);
  std::printf("actk %s (header %d.%d.%d): relu6 -> %g %g %g\n", actk::version(), ACTK_VERSION_MAJOR, ACTK_VERSION_MINOR,
              ACTK_VERSION_PATCH, y[0], y[1], y[2]);
  try {
    actk::forward(actk::Op::relu6, x, y, -1);
    return 1;
  } catch (const actk::Error& e) {  // the exception type crosses the library boundary
    return y[0] == 0.0f && y[2] == 2.0f && e.status() == actk::Status::invalid_argument ? 0 : 1;
  }
}
