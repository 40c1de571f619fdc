/* tests/c_abi_smoke.c: the C ABI header compiles as C and the library links from C.
 * Exit status 0 = pass. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "actk/actk_c.h"

int main(void) {
  int op = -1, failures = 0;
  float x[4] = {-2.0f, 0.0f, 0.5f, 3.0f}, y[4];
  if (actk_op_from_name("sigmoid", &op) != ACTK_OK) { printf("lookup failed: %s\n", actk_last_error()); return 1; }
  if (actk_forward(op, NULL, ACTK_FLOAT32, x, y, 4, ACTK_BACKEND_CPU, NULL) != ACTK_OK) {
    printf("forward failed: %s\n", actk_last_error());
    return 1;
  }
  if (y[1] != 0.5f) { printf("sigmoid(0) = %g\n", (double)y[1]); ++failures; }
  if (fabs(y[3] - 0.95257412f) > 1e-6) { printf("sigmoid(3) = %g\n", (double)y[3]); ++failures; }
  if (actk_forward(op, NULL, ACTK_FLOAT32, NULL, y, 4, ACTK_BACKEND_CPU, NULL) != ACTK_ERROR_INVALID_ARGUMENT ||
      strstr(actk_last_error(), "'x'") == NULL) {
    printf("null x not reported: %s\n", actk_last_error());
    ++failures;
  }
  printf("actk %s from C: %d op(s), %s\n", actk_version(), actk_op_count(), failures ? "FAILED" : "ok");
  return failures ? 1 : 0;
}
