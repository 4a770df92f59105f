// meta_memory.h — DiME's own metadata memory: raw anonymous mappings, never interposed and never
// registered with userfaultfd, so the handler can touch it freely. Reserved with MAP_NORESERVE:
// a large array costs only the pages actually used.
#pragma once

#include <cstddef>
#include <cstdint>
#include <sys/mman.h>

namespace dime {

// Maps `bytes` of zero-filled private memory; nullptr on failure.
inline void* map_metadata(size_t bytes) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? nullptr : p;
}

// A fixed-size, zero-initialised array of trivially constructible T in metadata memory.
template <typename T>
class MetaArray {
public:
    MetaArray() = default;
    explicit MetaArray(size_t n) { reset(n); }
    ~MetaArray() { release(); }
    MetaArray(const MetaArray&) = delete;
    MetaArray& operator=(const MetaArray&) = delete;

    bool reset(size_t n) {
        release();
        data_ = static_cast<T*>(map_metadata(n * sizeof(T)));
        size_ = data_ ? n : 0;
        return data_ != nullptr;
    }
    T& operator[](size_t i) { return data_[i]; }
    const T& operator[](size_t i) const { return data_[i]; }
    T* data() { return data_; }
    size_t size() const { return size_; }

private:
    void release() {
        if (data_) munmap(data_, size_ * sizeof(T));
        data_ = nullptr;
        size_ = 0;
    }
    T* data_ = nullptr;
    size_t size_ = 0;
};

}  // namespace dime
