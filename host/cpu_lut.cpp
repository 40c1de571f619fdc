// host/cpu_lut.cpp: the 16-bit forward tables' cache (host/cpu_lut.h).
#include "host/cpu_lut.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace actk {
namespace detail {
namespace {

constexpr std::size_t kCacheSize = 16;  // 16 x 128 KiB at most

struct Entry {
  LutKey key;
  Lut table;
  std::uint64_t used;
};
struct Cache {
  std::mutex mu;
  std::vector<Entry> entries;
  std::uint64_t tick = 0;
};
Cache& cache() {
  static Cache c;
  return c;
}
std::atomic<bool>& enabled() {
  static std::atomic<bool> on{[] {
    const char* env = std::getenv("ACTK_CPU_LUT");
    return !(env != nullptr && std::strcmp(env, "0") == 0);
  }()};
  return on;
}

std::atomic<std::uint64_t> reads{0};  // calls that read a table (lut_reads)

/// key's table, marked as just used, or null (c.mu held).
Lut find_locked(Cache& c, const LutKey& key) {
  for (Entry& e : c.entries)
    if (e.key == key) {
      e.used = ++c.tick;
      return e.table;
    }
  return nullptr;
}

}  // namespace

Lut lut_find(const LutKey& key) {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return find_locked(c, key);
}

Lut lut_insert(const LutKey& key, std::vector<std::uint16_t>&& table) {
  auto fresh = std::make_shared<const std::vector<std::uint16_t>>(std::move(table));
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  if (Lut held = find_locked(c, key)) return held;
  if (c.entries.size() < kCacheSize) {
    c.entries.push_back(Entry{key, fresh, ++c.tick});
  } else {
    Entry* oldest = &c.entries.front();
    for (Entry& e : c.entries)
      if (e.used < oldest->used) oldest = &e;
    *oldest = Entry{key, fresh, ++c.tick};
  }
  return fresh;
}

bool cpu_lut_enabled() { return enabled().load(std::memory_order_relaxed); }
void set_cpu_lut_enabled(bool on) { enabled().store(on, std::memory_order_relaxed); }

std::uint64_t lut_reads() { return reads.load(std::memory_order_relaxed); }
void lut_count_read() { reads.fetch_add(1, std::memory_order_relaxed); }

void lut_clear() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  c.entries.clear();
}

}  // namespace detail
}  // namespace actk
