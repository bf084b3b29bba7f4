# stb_image 2.27 (Debian 12's libstb-dev) lets its JPEG bit reader's count of buffered bits go
# negative: when a corrupt scan runs into a marker, the refill adds no bits, yet the fast-AC path
# and the bit readers still take theirs. The next refill then shifts by 24 - count > 31, which is
# undefined behaviour (UBSan: "shift exponent 34 is too large", found by fuzz_image; input in
# fuzz/regressions/image/crash-4e73f27c). stb 2.28 fixed it by checking the count where bits are
# taken; no check trim could run on the file beforehand can tell (it would have to decode the
# scan). So the decoder trim compiles (datasets/image_decode.cpp, the only file that includes
# stb_image.h) is the system header with those checks added, written into the build folder. Each
# check is added on the line it guards, so line numbers stay those of the system header.
#
# Sets STB_IMAGE_PATCHED_DIR, to be put before STB_INCLUDE_DIR on the include path. A header that
# has the checks already (stb 2.28 and later) is used as it is; one where the expected lines are
# not found exactly stops the configuration rather than compiling an unchecked decoder.

set(STB_IMAGE_PATCHED_DIR ${CMAKE_CURRENT_BINARY_DIR}/stb-patched)
file(READ ${STB_INCLUDE_DIR}/stb_image.h stb_src)
string(FIND "${stb_src}" "Combined length longer than code bits available" stb_fixed)
if(stb_fixed GREATER -1)
  set(STB_IMAGE_PATCHED_DIR ${STB_INCLUDE_DIR})
  return()
endif()

# Replaces `old` by `new` in stb_src; there must be exactly `count` of them.
function(stb_add_check old new count)
  string(LENGTH "${stb_src}" before)
  string(REPLACE "${old}" "${new}" patched "${stb_src}")
  string(LENGTH "${patched}" after)
  string(LENGTH "${old}" old_len)
  string(LENGTH "${new}" new_len)
  math(EXPR found "(${after} - ${before}) / (${new_len} - ${old_len})")
  if(NOT found EQUAL count)
    message(FATAL_ERROR "${STB_INCLUDE_DIR}/stb_image.h: expected ${count} of '${old}', found ${found}; "
                        "cmake/stb_image_patched.cmake knows stb_image 2.27 only")
  endif()
  set(stb_src "${patched}" PARENT_SCOPE)
endfunction()

# stbi__extend_receive, stbi__jpeg_get_bits, stbi__jpeg_get_bit: out of bits, read zeros.
stb_add_check([=[if (j->code_bits < n) stbi__grow_buffer_unsafe(j);]=]
              [=[if (j->code_bits < n) { stbi__grow_buffer_unsafe(j); if (j->code_bits < n) return 0; } /* trim: stb 2.28 */]=] 2)
stb_add_check([=[if (j->code_bits < 1) stbi__grow_buffer_unsafe(j);]=]
              [=[if (j->code_bits < 1) { stbi__grow_buffer_unsafe(j); if (j->code_bits < 1) return 0; } /* trim: stb 2.28 */]=] 1)
# The fast-AC paths of stbi__jpeg_decode_block and stbi__jpeg_decode_block_prog_ac: a corrupt scan.
stb_add_check([=[s = r & 15; // combined length]=]
              [=[s = r & 15; if (s > j->code_bits) return stbi__err("bad huffman code", "Combined length longer than code bits available"); // combined length (trim: stb 2.28)]=] 2)

file(WRITE ${STB_IMAGE_PATCHED_DIR}/stb_image.h.new "${stb_src}")
# Copied only when changed, so a re-configure does not rebuild image_decode.cpp.
configure_file(${STB_IMAGE_PATCHED_DIR}/stb_image.h.new ${STB_IMAGE_PATCHED_DIR}/stb_image.h COPYONLY)
