// Array nodes: each kind of operation knows its output (shape, dtype, chunk grid) and how to add one task per
// output chunk to a graph.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tessera/arrays/array.h"
#include "tessera/arrays/chunk.h"
#include "tessera/runtime/graph.h"

namespace tessera::detail {

class GraphBuilder;
using ArrayNodePtr = std::shared_ptr<const ArrayNode>;

// Kernels hold a reference to their node (shared_from_this), so a graph stays valid after the arrays that
// built it are gone.
struct ArrayNode : std::enable_shared_from_this<ArrayNode> {
  Shape shape;
  DType dtype = DType::kFloat64;
  ChunkGrid grid;
  std::string name;  // unique in the process: "<kind>-<n>"; task keys are (name, chunk index...)

  virtual ~ArrayNode() = default;
  // Adds the tasks making every output chunk and returns their ids in row-major chunk order.
  virtual std::vector<TaskId> build(GraphBuilder& b) const = 0;

  // Generators (random numbers, ranges, constants, and transposes of them) make a chunk from nothing but its
  // index, cheaply: their readers make the chunks they need inside their own tasks (see add_chunk_input)
  // instead of reading a task's result, because making a chunk again costs less than writing it to memory
  // and holding it until its last reader ran (seed-expr's X: 3.2 GB).
  virtual bool generator() const { return false; }
  // Nodes whose chunks their readers make in their own tasks, from the chunks the node reads (fused_inputs,
  // fused_chunk, fused_rows): a take from a small array (a climatology spread over the days), whose chunks
  // would otherwise be as large as the data they are combined with, made and held apart.
  virtual bool made_in_reader() const { return false; }
  virtual Chunk generate(std::span<const std::int64_t> index) const;

  // Fusion into reduction partials: the tasks chunk `index` reads (appended to `deps`) and, in the reader's
  // running task, the chunk made from them (from task input `next` on, which it advances; made chunks are
  // kept in `made`). By default the node's own task (or the generator, made in place); elementwise nodes
  // evaluate their expression inside the reader instead of writing their result out.
  virtual void fused_inputs(GraphBuilder& b, std::span<const std::int64_t> index,
                            std::vector<TaskId>& deps) const;
  virtual const Chunk& fused_chunk(const TaskContext& ctx, std::size_t& next,
                                   std::span<const std::int64_t> index, std::deque<Chunk>& made) const;
  // The same by blocks of rows (a0 .. a1-1 along axis 0) of chunk `index`, for reductions that fold their
  // input a block at a time so that a fused chunk never exists whole: generators and elementwise nodes.
  virtual bool makes_rows() const { return generator(); }
  virtual const Chunk& fused_rows(const TaskContext& ctx, std::size_t& next,
                                  std::span<const std::int64_t> index, std::int64_t a0, std::int64_t a1,
                                  std::deque<Chunk>& made) const;
  // Rows a0 .. a1-1 of a generator's chunk `index`; by default cut out of the whole chunk.
  virtual Chunk generate_rows(std::span<const std::int64_t> index, std::int64_t a0, std::int64_t a1) const;

  // The nodes this one reads (appended to `out`), for GraphBuilder::survey. A node that leaves one out only
  // loses the sharing below, never correctness.
  virtual void operands(std::vector<const ArrayNode*>& out) const {}
  // Nodes of one graph with the same non-empty key compute the same thing from the same input on the way to
  // their results, and share it (GraphBuilder::peers): the mean, variance and standard deviation of one array
  // over the same axes make one pass over it for their partial moments (reduce.cc).
  virtual std::string shared_pass_key() const { return {}; }
};

// A process-wide counter makes names unique; every rank constructs the same arrays in the same order (control
// replication), so names agree across ranks.
std::string next_name(std::string_view kind);

// Operations that are not elementwise (slices, grouped reductions) made twice over the same input with the
// same parameters are one node (a climatology written out and the same one subtracted by anomaly()), so the
// graph computes them once. `key` names the operation and its parameters, the input by its unique name;
// `make` runs on a miss. Every rank makes the same calls in the same order, so all agree.
ArrayNodePtr shared_node(std::string key, const std::function<ArrayNodePtr()>& make);

// Builds nodes into one graph, each node once.
class GraphBuilder {
 public:
  explicit GraphBuilder(Graph& graph) : graph_(graph) {}
  // Visits every node reachable from `roots` before any is built, so that nodes sharing a pass know each
  // other (peers). Without a survey every node builds alone.
  void survey(std::span<const ArrayNodePtr> roots);
  // The surveyed nodes with shared_pass_key() == key, in a deterministic order (depth first from the roots,
  // operands in order): the same on every rank.
  std::span<const ArrayNode* const> peers(const std::string& key) const;
  // Tasks that peers share, built by the first of them to ask (make()) and handed to the others.
  template <class F>
  const std::vector<TaskId>& shared(const std::string& key, F&& make) {
    if (auto it = shared_.find(key); it != shared_.end()) return it->second;
    std::vector<TaskId> ids = make();
    return shared_.emplace(key, std::move(ids)).first->second;
  }
  const std::vector<TaskId>& build(const ArrayNodePtr& node);
  Graph& graph() noexcept { return graph_; }

 private:
  Graph& graph_;
  std::unordered_map<const ArrayNode*, std::vector<TaskId>> built_;
  std::unordered_map<std::string, std::vector<const ArrayNode*>> peers_;
  std::unordered_map<std::string, std::vector<TaskId>> shared_;
};

// Row-major linear position of a chunk index in a grid.
std::int64_t linear_index(std::span<const std::int64_t> index, const Shape& counts);
// Chunk index as the int32 key index of a task.
std::vector<std::int32_t> key_index(std::span<const std::int64_t> index);
std::vector<std::int64_t> from_key(std::span<const std::int32_t> index);

// Calls f(index) for every chunk index of a grid, row-major.
template <class F>
void for_each_chunk(const ChunkGrid& grid, F&& f) {
  const Shape counts = grid.grid_shape();
  std::vector<std::int64_t> index(counts.size(), 0);
  if (grid.total_chunks() == 0) return;
  do {
    f(std::span<const std::int64_t>(index));
  } while (!counts.empty() && next_index(index, counts));
}

// Every input of a running task, as T, in order.
template <class T>
std::vector<const T*> inputs_as(const TaskContext& ctx) {
  std::vector<const T*> out;
  out.reserve(ctx.num_inputs());
  for (std::size_t i = 0; i < ctx.num_inputs(); ++i) out.push_back(&ctx.input<T>(i));
  return out;
}

// A reader of chunk `index` of `node`: adds the task making it to `deps`, unless the node is a generator.
void add_chunk_input(GraphBuilder& b, const ArrayNodePtr& node, std::span<const std::int64_t> index,
                     std::vector<TaskId>& deps);
// In the reader's running task: that chunk, task input `next` (advanced) or generated into `made`.
const Chunk& chunk_input(const TaskContext& ctx, std::size_t& next, const ArrayNode& node,
                         std::span<const std::int64_t> index, std::deque<Chunk>& made);

// Rows a0 .. a1-1 along axis 0 of a chunk (a copy).
Chunk rows_of(const Chunk& c, std::int64_t a0, std::int64_t a1);

// The output chunk of a task, checked against the node's grid.
TaskOptions chunk_options(const ArrayNode& node, std::span<const std::int64_t> index);
// The same for a cheap step (elementwise, a slice) over `deps`: rereadable when it reads one rereadable
// task alone, so that the plan may run the two again rather than hold the result (TaskOptions::rereadable).
TaskOptions step_options(const ArrayNode& node, std::span<const std::int64_t> index, const Graph& graph,
                         std::span<const TaskId> deps);

}  // namespace tessera::detail
