// prog: a program, built as a PIE and as a fixed-address (ET_EXEC)
// executable, for the loader tests' object kinds.
int main(void) { return 0; }
