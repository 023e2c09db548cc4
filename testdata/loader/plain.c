// plain: an ordinary shared object for the loader tests. Built with
// different -DPAD_BYTES values it gets spans of different sizes (the pad
// is zero-filled, so it lengthens the span without growing the file);
// built with -Wl,-Ttext-segment=ADDR it gets a non-zero link base.
#ifndef PAD_BYTES
#define PAD_BYTES 1
#endif

static char pad[PAD_BYTES];

int plain_value(void) { return 42 + pad[0]; }

char *plain_pad(void) { return pad; }
