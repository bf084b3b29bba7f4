# toolchain-aarch64.cmake - cross-compile for Armv8-A Linux with Debian's g++-aarch64-linux-gnu and run
# target binaries (ctest) through qemu-aarch64 -cpu cortex-a53 (plain Armv8.0-A: no fp16, no dot product).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CROSS_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${CROSS_TRIPLE}-g++)
set(CROSS_SYSROOT /usr/${CROSS_TRIPLE})   # Debian's cross libc/libstdc++/libgomp live here
set(CMAKE_FIND_ROOT_PATH ${CROSS_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)  # host tools (qemu, python) from the host
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)   # never pick up x86 libs (e.g. libgtest.a)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# Every add_test()/gtest_discover_tests() target command is prefixed with this:
find_program(QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR ${QEMU_AARCH64} -cpu cortex-a53 -L ${CROSS_SYSROOT} CACHE STRING "" FORCE)
