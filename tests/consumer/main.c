#include <actk/actk_c.h>
#include <stdio.h>

int main(void) {
  int op;
  double y = 0, x = 1.0;
  if (actk_op_from_name("exponential", &op) != ACTK_OK) return 1;
  if (actk_forward(op, NULL, ACTK_FLOAT64, &x, &y, 1, ACTK_BACKEND_CPU, NULL) != ACTK_OK) return 1;
  printf("actk %s from C: exp(1) = %.17g\n", actk_version(), y);
  return y > 2.718281828 && y < 2.718281829 ? 0 : 1;
}
