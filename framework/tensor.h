// tensor.h - NCHW float32 tensor with 64-byte aligned storage.
//
// A Tensor either owns its storage or is a view into storage owned elsewhere (the model's
// flat parameter block, a planned workspace). Views never free. Shapes are at most 4-D;
// activations are always N x C x H x W (a Linear layer's output is N x C x 1 x 1).
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

namespace trim {

// Thrown by library code for every user-visible failure (bad file, bad shape, bad key).
// Tools catch it, print what() and exit non-zero; library code never exits.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// Up to 4 dimensions stored inline: building and comparing shapes in the training step must not
// touch the heap (the step allocates nothing after the first batch).
class Dims {
 public:
  Dims() = default;
  Dims(std::initializer_list<int> d) { assign(d.begin(), d.end()); }
  explicit Dims(const std::vector<int>& d) { assign(d.data(), d.data() + d.size()); }
  size_t size() const { return static_cast<size_t>(n_); }
  bool empty() const { return n_ == 0; }
  int operator[](size_t i) const { return d_[i]; }
  int& operator[](size_t i) { return d_[i]; }
  const int* begin() const { return d_; }
  const int* end() const { return d_ + n_; }
  void push_back(int v);
  bool operator==(const Dims& o) const;
  bool operator!=(const Dims& o) const { return !(*this == o); }
  operator std::vector<int>() const { return std::vector<int>(begin(), end()); }

 private:
  void assign(const int* b, const int* e);
  int d_[4] = {0, 0, 0, 0};
  int n_ = 0;
};

struct Shape {
  Dims dims;

  Shape() = default;
  Shape(std::initializer_list<int> d) : dims(d) {}
  explicit Shape(const std::vector<int>& d) : dims(d) {}

  int rank() const { return static_cast<int>(dims.size()); }
  int operator[](int i) const { return dims[static_cast<size_t>(i)]; }
  int& operator[](int i) { return dims[static_cast<size_t>(i)]; }
  size_t numel() const;
  bool operator==(const Shape& o) const { return dims == o.dims; }
  bool operator!=(const Shape& o) const { return dims != o.dims; }
  std::string str() const;  // "[64, 32, 28, 28]"
};

// 64-byte aligned float buffer (cache line and AVX-512 register width). Blocks of at least
// kHugeBlockBytes start on a 2 MB boundary and are marked for transparent huge pages (Linux).
constexpr size_t kHugePageBytes = size_t{2} << 20;
constexpr size_t kHugeBlockBytes = size_t{4} << 20;
float* aligned_alloc_floats(size_t n);
void aligned_free_floats(float* p);
// Number of aligned_alloc_floats calls so far (tests check that training steps allocate nothing).
size_t tensor_allocations();

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(const Shape& shape);  // owning, zero-filled
  Tensor(const Shape& shape, float* view_data);  // non-owning view
  ~Tensor();
  Tensor(const Tensor& o);
  Tensor& operator=(const Tensor& o);  // deep copy into own storage (or into the view, same size)
  Tensor(Tensor&& o) noexcept;
  Tensor& operator=(Tensor&& o) noexcept;

  // Reshape, reallocating only when the element count grows beyond capacity. A view may only
  // be resized to at most its original size.
  void resize(const Shape& shape);
  // Same data, new shape with the same element count.
  void reshape(const Shape& shape);

  const Shape& shape() const { return shape_; }
  int dim(int i) const { return shape_[i]; }
  int rank() const { return shape_.rank(); }
  size_t numel() const { return numel_; }
  bool empty() const { return numel_ == 0; }
  bool owns() const { return owns_; }

  float* data() { return data_; }
  const float* data() const { return data_; }
  float& operator[](size_t i) { return data_[i]; }
  float operator[](size_t i) const { return data_[i]; }
  float* begin() { return data_; }
  float* end() { return data_ + numel_; }
  const float* begin() const { return data_; }
  const float* end() const { return data_ + numel_; }

  void zero();
  void fill(float v);

 private:
  void release();
  Shape shape_;
  size_t numel_ = 0;
  size_t capacity_ = 0;
  float* data_ = nullptr;
  bool owns_ = true;
};

// Throws Error("<what>: expected <want>, got <got>") when shapes differ.
void check_shape(const Shape& got, const Shape& want, const std::string& what);

}  // namespace trim
