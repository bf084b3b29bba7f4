// stb_image_write's implementation (Debian's libstb-dev), alone in this translation unit so that
// the sanitize build can exempt exactly its code from one UBSan check (CMakeLists.txt): its JPEG
// writer shifts negative ints left (stbiw__jpg_writeBits, bitBuf <<= 8 once bit 31 is set),
// undefined before C++20 but compiled by gcc and clang as the plain shift, and the JPEGs it
// writes read back right (tests/test_image_decode.cpp). write_image (image_decode.cpp) calls it.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include "stb_image_write.h"
#pragma GCC diagnostic pop
