#include "gibbon.h"
int main(void) { return 0; }
