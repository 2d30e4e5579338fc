#pragma once
// The process's own metric families, read from /proc/self (Linux), in the names of the Prometheus
// client libraries: process_resident_memory_bytes, process_virtual_memory_bytes, process_open_fds,
// process_max_fds, process_start_time_seconds, process_cpu_seconds_total.

#include "admin/metrics_writer.hpp"

namespace outpost::admin {

// Writes the families whose figures can be read (one that cannot is left out). Thread-safe.
void write_process_metrics(MetricsWriter& out);

}  // namespace outpost::admin
