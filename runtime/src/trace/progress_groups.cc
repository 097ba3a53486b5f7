#include "progress_groups.h"

#include <algorithm>

namespace tessera::detail {

void ProgressGroups::begin(const Graph& graph, const Plan& plan, int threads) {
  labels_ = graph.progress_groups();
  totals_.assign(labels_.size(), 0);
  if (labels_.empty()) {
    group_of_.clear();
    counts_.reset();
    return;
  }
  group_of_.resize(plan.size());
  for (std::uint32_t p = 0; p < plan.size(); ++p) {
    const std::uint16_t g = graph.options(plan.result_task(p)).progress_group;
    group_of_[p] = g <= labels_.size() ? g : 0;
    if (group_of_[p] != 0) ++totals_[group_of_[p] - 1];
  }
  threads_ = static_cast<std::size_t>(std::max(threads, 1));
  stride_ = (labels_.size() + 1 + 7) / 8 * 8;
  counts_.reset(new std::atomic<std::uint64_t>[threads_ * stride_]);
  for (std::size_t i = 0; i < threads_ * stride_; ++i) counts_[i].store(0, std::memory_order_relaxed);
}

std::vector<std::uint64_t> ProgressGroups::read(bool final) const {
  if (final) return totals_;
  std::vector<std::uint64_t> done(labels_.size(), 0);
  for (std::size_t t = 0; t < threads_ && counts_; ++t) {
    for (std::size_t g = 0; g < labels_.size(); ++g) {
      done[g] += counts_[t * stride_ + g + 1].load(std::memory_order_relaxed);
    }
  }
  return done;
}

std::vector<GroupProgress> ProgressGroups::progress(const std::vector<std::uint64_t>& done) const {
  std::vector<GroupProgress> out(labels_.size());
  for (std::size_t g = 0; g < labels_.size(); ++g) {
    out[g].label = labels_[g];
    out[g].done = g < done.size() ? done[g] : 0;
    out[g].total = totals_[g];
  }
  return out;
}

}  // namespace tessera::detail
