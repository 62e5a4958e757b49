// Paged-KV causal attention: store this step's k/v (rounded through e4m3 for an fp8
// cache), then each query token attends to its sequence's context 0..(its position)
// through the sequence's block table.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "hearth/backend/cpu/cpu_kernels.h"
#include "hearth/backend/kv_fp8.h"
#include "hearth/core/error.h"

namespace hearth::cpu {

void attention(ThreadPool& pool, const PagedKvLayer& cache, const float* q, const float* k,
               const float* v, int heads, float scale, const StepBatch& batch, float* out) {
  const int tokens = batch.num_tokens();
  const int seqs = batch.num_seqs();
  const int kv_heads = cache.kv_heads;
  const int head_dim = cache.head_dim;
  const int block_size = cache.block_size;
  const int64_t slot_stride = static_cast<int64_t>(kv_heads) * head_dim;  // floats per slot
  const int64_t num_slots = static_cast<int64_t>(cache.num_blocks) * block_size;
  const int group = heads / kv_heads;  // query heads sharing one kv head (GQA)

  // 1. Store this step's keys and values.
  for (int t = 0; t < tokens; ++t) {
    const int32_t slot = batch.slot_mapping[t];
    if (slot < 0) continue;  // padding token
    HEARTH_CHECK(slot < num_slots, "slot_mapping[{}] = {} outside the KV cache of {} slots", t,
                 slot, num_slots);
    float* kd = cache.k + slot * slot_stride;
    float* vd = cache.v + slot * slot_stride;
    const float* ks = k + t * slot_stride;
    const float* vs = v + t * slot_stride;
    if (cache.fp8) {
      for (int64_t i = 0; i < slot_stride; ++i) {
        kd[i] = round_through_e4m3(ks[i], cache.k_scale);
        vd[i] = round_through_e4m3(vs[i], cache.v_scale);
      }
    } else {
      std::memcpy(kd, ks, slot_stride * sizeof(float));
      std::memcpy(vd, vs, slot_stride * sizeof(float));
    }
  }

  // 2. Each query token's sequence and absolute position; validate the block tables once
  //    so that the inner loops can trust them.
  std::vector<int> seq_of(tokens), position_of(tokens);
  int max_context = 0;
  for (int s = 0; s < seqs; ++s) {
    const int begin = batch.query_start[s], end = batch.query_start[s + 1];
    const int q_len = end - begin;
    const int context = batch.context_lens[s];
    HEARTH_CHECK(context >= q_len, "sequence {}: context length {} < its {} new tokens", s,
                 context, q_len);
    HEARTH_CHECK(context <= batch.max_blocks_per_seq * block_size,
                 "sequence {}: context length {} exceeds its block table ({} blocks of {})", s,
                 context, batch.max_blocks_per_seq, block_size);
    const int used_blocks = (context + block_size - 1) / block_size;
    for (int b = 0; b < used_blocks; ++b) {
      const int32_t block = batch.block_tables[s * batch.max_blocks_per_seq + b];
      HEARTH_CHECK(block >= 0 && block < cache.num_blocks,
                   "sequence {}: block table entry {} = {} outside [0, {})", s, b, block,
                   cache.num_blocks);
    }
    for (int i = 0; i < q_len; ++i) {
      seq_of[begin + i] = s;
      position_of[begin + i] = context - q_len + i;
    }
    max_context = std::max(max_context, context);
  }

  // 3. One (token, head) pair per work item.
  pool.parallel_for(static_cast<int64_t>(tokens) * heads, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> probs(max_context);
    for (int64_t item = begin; item < end; ++item) {
      const int t = static_cast<int>(item / heads);
      const int h = static_cast<int>(item % heads);
      const int s = seq_of[t];
      const int n = position_of[t] + 1;  // causal: cache positions 0..position
      const int32_t* table = batch.block_tables.data() + s * batch.max_blocks_per_seq;
      const int64_t head_offset = static_cast<int64_t>(h / group) * head_dim;
      auto slot_of = [&](int p) {
        return static_cast<int64_t>(table[p / block_size]) * block_size + p % block_size;
      };

      const float* qv = q + (static_cast<int64_t>(t) * heads + h) * head_dim;
      float max_score = -std::numeric_limits<float>::infinity();
      for (int p = 0; p < n; ++p) {
        const float* kv = cache.k + slot_of(p) * slot_stride + head_offset;
        probs[p] = dot_f32(qv, kv, head_dim) * scale;
        max_score = std::max(max_score, probs[p]);
      }
      float sum = 0.0f;
      for (int p = 0; p < n; ++p) {
        probs[p] = std::exp(probs[p] - max_score);
        sum += probs[p];
      }
      const float inv_sum = 1.0f / sum;

      float* o = out + (static_cast<int64_t>(t) * heads + h) * head_dim;
      std::fill(o, o + head_dim, 0.0f);
      for (int p = 0; p < n; ++p) {
        const float w = probs[p] * inv_sum;
        const float* vv = cache.v + slot_of(p) * slot_stride + head_offset;
        for (int d = 0; d < head_dim; ++d) o[d] += w * vv[d];
      }
    }
  });
}

}  // namespace hearth::cpu
