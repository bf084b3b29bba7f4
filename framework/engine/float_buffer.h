// float_buffer.h - an owned, zero-filled, 64-byte aligned block of floats with a 64-bit size,
// for the engine's weight arena, activation buffers and scratch. A Tensor's dimensions are int,
// so a block of 2^31 or more floats cannot be one; the engine's blocks are flat and need none.
#pragma once

#include <cstddef>
#include <cstring>

#include "framework/tensor.h"

namespace trim {

class FloatBuffer {
 public:
  FloatBuffer() = default;
  explicit FloatBuffer(size_t n) : data_(aligned_alloc_floats(n)), size_(n) {
    if (n) std::memset(data_, 0, n * sizeof(float));
  }
  ~FloatBuffer() { aligned_free_floats(data_); }
  FloatBuffer(const FloatBuffer&) = delete;
  FloatBuffer& operator=(const FloatBuffer&) = delete;
  FloatBuffer(FloatBuffer&& o) noexcept : data_(o.data_), size_(o.size_) { o.data_ = nullptr, o.size_ = 0; }
  FloatBuffer& operator=(FloatBuffer&& o) noexcept {
    if (this != &o) {
      aligned_free_floats(data_);
      data_ = o.data_, size_ = o.size_;
      o.data_ = nullptr, o.size_ = 0;
    }
    return *this;
  }

  float* data() { return data_; }
  const float* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  float* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace trim
