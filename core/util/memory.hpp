// This process's memory as the kernel counts it, for the per-cycle peak in the store.
#pragma once

namespace quarry {

/// Peak resident memory of this process, in MiB (VmHWM).
double peak_rss_mb();

/// Reset the peak (VmHWM), so each cycle reports its own; a no-op where the kernel refuses.
void reset_peak_rss();

}  // namespace quarry
