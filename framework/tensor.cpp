#include "framework/tensor.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <sstream>

#ifdef __linux__
#include <sys/mman.h>
#endif

namespace trim {

void Dims::assign(const int* b, const int* e) {
  if (e - b > 4) throw Error("tensors have at most 4 dimensions, got " + std::to_string(e - b));
  n_ = 0;
  for (const int* p = b; p != e; ++p) d_[n_++] = *p;
}

void Dims::push_back(int v) {
  if (n_ == 4) throw Error("tensors have at most 4 dimensions");
  d_[n_++] = v;
}

bool Dims::operator==(const Dims& o) const {
  if (n_ != o.n_) return false;
  for (int i = 0; i < n_; ++i)
    if (d_[i] != o.d_[i]) return false;
  return true;
}

size_t Shape::numel() const {
  if (dims.empty()) return 0;
  size_t n = 1;
  for (int d : dims) {
    if (d < 0) throw Error("negative dimension in shape " + str());
    if (__builtin_mul_overflow(n, static_cast<size_t>(d), &n)) throw Error("shape " + str() + " has too many elements");
  }
  return n;
}

std::string Shape::str() const {
  std::ostringstream s;
  s << '[';
  for (size_t i = 0; i < dims.size(); ++i) s << (i ? ", " : "") << dims[i];
  s << ']';
  return s.str();
}

namespace {
std::atomic<size_t> g_tensor_allocations{0};
}

size_t tensor_allocations() { return g_tensor_allocations.load(std::memory_order_relaxed); }

float* aligned_alloc_floats(size_t n) {
  if (n == 0) return nullptr;
  g_tensor_allocations.fetch_add(1, std::memory_order_relaxed);
  const bool huge = n * sizeof(float) >= kHugeBlockBytes;
  const size_t align = huge ? kHugePageBytes : 64;
  const size_t bytes = (n * sizeof(float) + align - 1) / align * align;
  void* p = std::aligned_alloc(align, bytes);
  if (!p) throw std::bad_alloc();
#ifdef __linux__
  // Large blocks (an inference engine's packed weights, training activations) are streamed
  // every pass; with 4 KB pages each page is a TLB miss and the hardware prefetchers stop at
  // every page boundary. Ask for transparent huge pages (the usual THP setting is "madvise");
  // where the kernel says no, nothing changes.
  if (huge) madvise(p, bytes, MADV_HUGEPAGE);
#endif
  return static_cast<float*>(p);
}

void aligned_free_floats(float* p) { std::free(p); }

Tensor::Tensor(const Shape& shape) : shape_(shape), numel_(shape.numel()) {
  capacity_ = numel_;
  data_ = aligned_alloc_floats(capacity_);
  zero();
}

Tensor::Tensor(const Shape& shape, float* view_data)
    : shape_(shape), numel_(shape.numel()), capacity_(numel_), data_(view_data), owns_(false) {}

Tensor::~Tensor() { release(); }

void Tensor::release() {
  if (owns_ && data_) aligned_free_floats(data_);
  data_ = nullptr;
  capacity_ = 0;
}

Tensor::Tensor(const Tensor& o) : shape_(o.shape_), numel_(o.numel_), capacity_(o.numel_) {
  data_ = aligned_alloc_floats(capacity_);
  if (numel_) std::memcpy(data_, o.data_, numel_ * sizeof(float));
}

Tensor& Tensor::operator=(const Tensor& o) {
  if (this == &o) return *this;
  if (!owns_) {
    if (o.numel_ > capacity_)
      throw Error("cannot copy " + o.shape_.str() + " into a view of " + shape_.str());
    shape_ = o.shape_;
    numel_ = o.numel_;
  } else {
    resize(o.shape_);
  }
  if (numel_) std::memcpy(data_, o.data_, numel_ * sizeof(float));
  return *this;
}

Tensor::Tensor(Tensor&& o) noexcept
    : shape_(std::move(o.shape_)), numel_(o.numel_), capacity_(o.capacity_), data_(o.data_),
      owns_(o.owns_) {
  o.data_ = nullptr;
  o.numel_ = o.capacity_ = 0;
  o.owns_ = true;
}

Tensor& Tensor::operator=(Tensor&& o) noexcept {
  if (this == &o) return *this;
  release();
  shape_ = std::move(o.shape_);
  numel_ = o.numel_;
  capacity_ = o.capacity_;
  data_ = o.data_;
  owns_ = o.owns_;
  o.data_ = nullptr;
  o.numel_ = o.capacity_ = 0;
  o.owns_ = true;
  return *this;
}

void Tensor::resize(const Shape& shape) {
  size_t n = shape.numel();
  if (n > capacity_) {
    if (!owns_) throw Error("cannot grow a tensor view from " + shape_.str() + " to " + shape.str());
    release();
    data_ = aligned_alloc_floats(n);
    capacity_ = n;
    owns_ = true;
    std::memset(data_, 0, n * sizeof(float));
  }
  shape_ = shape;
  numel_ = n;
}

void Tensor::reshape(const Shape& shape) {
  if (shape.numel() != numel_)
    throw Error("cannot reshape " + shape_.str() + " to " + shape.str() + ": element counts differ");
  shape_ = shape;
}

void Tensor::zero() {
  if (numel_) std::memset(data_, 0, numel_ * sizeof(float));
}

void Tensor::fill(float v) {
  for (size_t i = 0; i < numel_; ++i) data_[i] = v;
}

void check_shape(const Shape& got, const Shape& want, const std::string& what) {
  if (got != want) throw Error(what + ": expected shape " + want.str() + ", got " + got.str());
}

}  // namespace trim
