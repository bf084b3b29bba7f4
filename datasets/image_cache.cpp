#include "datasets/image_cache.h"

#include "framework/file_io.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <thread>

#include "datasets/augment.h"
#include "framework/tensor.h"

namespace trim {

namespace {

constexpr char kMagic[8] = {'T', 'R', 'I', 'M', 'I', 'M', 'C', '1'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderBytes = 40;
constexpr size_t kEntryBytes = 16;

void put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = uint8_t(v >> (8 * i));
}
void put64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = uint8_t(v >> (8 * i));
}
uint32_t get32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t(p[i]) << (8 * i);
  return v;
}
uint64_t get64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t(p[i]) << (8 * i);
  return v;
}

uint64_t fnv1a(uint64_t h, const void* data, size_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

size_t data_start(size_t count) { return (kHeaderBytes + count * kEntryBytes + 63) / 64 * 64; }

void pwrite_all(int fd, const uint8_t* p, size_t n, size_t off, const std::string& path) {
  while (n > 0) {
    ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(off));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) throw Error(path + ": writing the image cache failed (" + std::strerror(errno) + ")");
    p += w;
    off += static_cast<size_t>(w);
    n -= static_cast<size_t>(w);
  }
}

}  // namespace

uint64_t ImageCache::key_of(const std::vector<std::string>& files, int channels, int shorter) {
  uint64_t h = 14695981039346656037ull;
  uint32_t head[3] = {kVersion, uint32_t(channels), uint32_t(shorter)};
  h = fnv1a(h, head, sizeof head);
  for (const std::string& f : files) {
    h = fnv1a(h, f.data(), f.size() + 1);  // with the terminator, so "ab","c" != "a","bc"
    struct stat st;
    int64_t meta[3] = {-1, 0, 0};
    if (::stat(f.c_str(), &st) == 0) {
      meta[0] = st.st_size;
      meta[1] = st.st_mtim.tv_sec;
      meta[2] = st.st_mtim.tv_nsec;
    }
    h = fnv1a(h, meta, sizeof meta);
  }
  return h;
}

ImageCache::~ImageCache() {
  if (map_) ::munmap(const_cast<uint8_t*>(map_), map_bytes_);
}

bool ImageCache::get(size_t i, ImageView* out) const {
  const uint8_t* e = table_ + i * kEntryBytes;
  uint32_t w = get32(e + 8), h = get32(e + 12);
  if (w == 0) return false;
  *out = ImageView{map_ + get64(e), int(w), int(h), channels_};
  return true;
}

size_t ImageCache::failed() const {
  size_t n = 0;
  for (size_t i = 0; i < count_; ++i) n += get32(table_ + i * kEntryBytes + 8) == 0;
  return n;
}

std::shared_ptr<const ImageCache> ImageCache::open(const std::string& path, const std::vector<std::string>& files,
                                                   int channels, int shorter) {
  return map_file(path, files, channels, shorter);
}

std::shared_ptr<ImageCache> ImageCache::map_file(const std::string& path, const std::vector<std::string>& files,
                                                 int channels, int shorter) {
  require_regular_file(path, "image cache");
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw Error(path + ": cannot open image cache (" + std::strerror(errno) + ")");
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < static_cast<off_t>(kHeaderBytes)) {
    ::close(fd);
    throw Error(path + ": not an image cache (too short)");
  }
  size_t bytes = static_cast<size_t>(st.st_size);
  void* m = ::mmap(nullptr, bytes, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) throw Error(path + ": cannot map image cache (" + std::strerror(errno) + ")");
  std::shared_ptr<ImageCache> c(new ImageCache());
  c->path_ = path;
  c->map_ = static_cast<const uint8_t*>(m);
  c->map_bytes_ = bytes;
  const uint8_t* p = c->map_;
  if (std::memcmp(p, kMagic, 8) != 0) throw Error(path + ": not a trim image cache (bad magic)");
  if (get32(p + 8) != kVersion) throw Error(path + ": image cache version " + std::to_string(get32(p + 8)) + ", expected " + std::to_string(kVersion));
  if (get32(p + 12) != uint32_t(channels) || get32(p + 16) != uint32_t(shorter))
    throw Error(path + ": image cache holds " + std::to_string(get32(p + 12)) + "-channel images of shorter side " +
                std::to_string(get32(p + 16)) + ", wanted " + std::to_string(channels) + " and " + std::to_string(shorter));
  uint64_t count = get64(p + 32);
  if (count != files.size())
    throw Error(path + ": image cache holds " + std::to_string(count) + " images, the data set " + std::to_string(files.size()));
  if (get64(p + 24) != key_of(files, channels, shorter))
    throw Error(path + ": image cache is stale (file list, sizes or modification times differ)");
  if (bytes < data_start(count)) throw Error(path + ": image cache truncated (entry table)");
  c->count_ = count;
  c->channels_ = channels;
  c->shorter_ = shorter;
  c->table_ = p + kHeaderBytes;
  for (size_t i = 0; i < count; ++i) {
    const uint8_t* e = c->table_ + i * kEntryBytes;
    uint64_t off = get64(e);
    uint64_t w = get32(e + 8), h = get32(e + 12);
    if (w == 0) continue;
    if (w > uint64_t(kMaxImageSide) || h == 0 || h > uint64_t(kMaxImageSide) || off < data_start(count) ||
        off + w * h * uint64_t(channels) > bytes)
      throw Error(path + ": image cache entry " + std::to_string(i) + " (" + files[i] + ") lies outside the file; delete the cache");
  }
  return c;
}

std::shared_ptr<const ImageCache> ImageCache::open_or_build(const std::string& path, const std::vector<std::string>& files,
                                                            int channels, int shorter, int threads) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    try {
      return open(path, files, channels, shorter);
    } catch (const Error&) {
      // Stale or damaged: rebuilt below and replaced atomically.
    }
  }
  const size_t count = files.size();
  // Refuse up front rather than fill the disk: an ImageNet-sized set at 256 px is ~300 GB.
  // The estimate assumes 4:3 images; the real size differs a little either way.
  const double estimate = double(count) * shorter * shorter * 4.0 / 3.0 * channels;
  std::string dir = path.substr(0, path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/'));
  struct statvfs fsst;
  if (::statvfs(dir.empty() ? "." : dir.c_str(), &fsst) == 0) {
    double avail = double(fsst.f_bavail) * double(fsst.f_frsize);
    if (estimate > avail)
      throw Error(path + ": the image cache would take about " + std::to_string(int64_t(estimate / 1048576)) +
                  " MiB but only " + std::to_string(int64_t(avail / 1048576)) +
                  " MiB are free there; the cache is meant for small data sets");
  }
  static std::atomic<uint64_t> serial{0};
  const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(serial++);
  int fd = ::open(tmp.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(tmp + ": cannot create image cache (" + std::strerror(errno) + ")");

  std::vector<uint8_t> table(count * kEntryBytes, 0);
  std::atomic<size_t> next_index{0};
  std::atomic<uint64_t> next_offset{data_start(count)};
  std::mutex err_mu;
  std::string write_error;
  auto worker = [&]() {
    for (;;) {
      size_t i = next_index++;
      if (i >= count) return;
      {
        std::lock_guard<std::mutex> lk(err_mu);
        if (!write_error.empty()) return;
      }
      Image img;
      try {
        img = read_image(files[i], channels);
      } catch (const Error&) {
        continue;  // entry stays {0, 0, 0}: unreadable; the data set warns when it is loaded
      }
      int rw, rh;
      resized_dims(img.width, img.height, shorter, &rw, &rh);
      if (rw != img.width || rh != img.height) img = resize_image(img.view(), rw, rh);
      uint64_t bytes = img.pixels.size();
      uint64_t off = next_offset.fetch_add(bytes);  // any order: the table says where each image is
      try {
        pwrite_all(fd, img.pixels.data(), bytes, off, tmp);
      } catch (const Error& e) {
        std::lock_guard<std::mutex> lk(err_mu);
        if (write_error.empty()) write_error = e.what();
        return;
      }
      uint8_t* e = table.data() + i * kEntryBytes;  // distinct i per thread: no lock needed
      put64(e, off);
      put32(e + 8, uint32_t(img.width));
      put32(e + 12, uint32_t(img.height));
    }
  };
  int nt = std::max(1, std::min<int>(threads, static_cast<int>(std::min<size_t>(count, 64))));
  std::vector<std::thread> pool;
  for (int t = 1; t < nt; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();

  try {
    if (!write_error.empty()) throw Error(write_error);
    uint8_t head[kHeaderBytes] = {};
    std::memcpy(head, kMagic, 8);
    put32(head + 8, kVersion);
    put32(head + 12, uint32_t(channels));
    put32(head + 16, uint32_t(shorter));
    put64(head + 24, key_of(files, channels, shorter));
    put64(head + 32, count);
    pwrite_all(fd, head, kHeaderBytes, 0, tmp);
    if (!table.empty()) pwrite_all(fd, table.data(), table.size(), kHeaderBytes, tmp);
    // Holes left by unreadable images and a short tail must still read as a full file.
    if (::ftruncate(fd, static_cast<off_t>(next_offset.load())) != 0)
      throw Error(tmp + ": sizing the image cache failed (" + std::strerror(errno) + ")");
    if (::fsync(fd) != 0) throw Error(tmp + ": flushing the image cache failed (" + std::strerror(errno) + ")");
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw Error(path + ": cannot move the new image cache into place (" + std::strerror(err) + ")");
  }
  std::shared_ptr<ImageCache> c = map_file(path, files, channels, shorter);
  c->built_now_ = true;
  return c;
}

}  // namespace trim
