#pragma once
// LMDB helpers shared by the store's files: errors as Status, and values as keys.

#include <lmdb.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "outpost/status.hpp"

namespace outpost::detail {

// Converts an LMDB return code into a Status with context.
Status lmdb_status(int rc, const std::string& context);

// Returns the LMDB error of CALL with CONTEXT; CONTEXT is only evaluated on error (hot paths).
#define OUTPOST_RETURN_IF_LMDB_ERROR(call, context)                                        \
    do {                                                                                   \
        int outpost_rc_ = (call);                                                          \
        if (outpost_rc_ != 0) return ::outpost::detail::lmdb_status(outpost_rc_, context); \
    } while (0)

inline MDB_val mdb_val(const void* p, size_t n) { return MDB_val{n, const_cast<void*>(p)}; }
inline std::string_view as_view(const MDB_val& v) {
    return {static_cast<const char*>(v.mv_data), v.mv_size};
}
uint64_t read_u64(const MDB_val& v);  // a native-endian u64 value (unaligned-safe)

}  // namespace outpost::detail
