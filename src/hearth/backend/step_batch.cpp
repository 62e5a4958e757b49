#include "hearth/backend/backend.h"
#include "hearth/core/error.h"

namespace hearth {

void StepBatch::validate() const {
  const int tokens = num_tokens();
  const int seqs = num_seqs();
  HEARTH_CHECK(static_cast<int>(positions.size()) == tokens && static_cast<int>(slot_mapping.size()) == tokens,
               "step batch: {} tokens but {} positions and {} slots", tokens, positions.size(), slot_mapping.size());
  HEARTH_CHECK(static_cast<int>(query_start.size()) == seqs + 1, "step batch: {} sequences but {} query_start entries",
               seqs, query_start.size());
  HEARTH_CHECK(query_start[0] == 0 && query_start[static_cast<size_t>(seqs)] == tokens,
               "step batch: query_start must run from 0 to {} tokens", tokens);
  for (int s = 0; s < seqs; ++s) {
    const int q_len = query_start[static_cast<size_t>(s) + 1] - query_start[static_cast<size_t>(s)];
    HEARTH_CHECK(q_len >= 0, "step batch: query_start decreases at sequence {}", s);
    HEARTH_CHECK(context_lens[static_cast<size_t>(s)] >= q_len,
                 "step batch: sequence {} has context length {} < its {} new tokens", s,
                 context_lens[static_cast<size_t>(s)], q_len);
  }
  HEARTH_CHECK(max_blocks_per_seq >= 0 && block_tables.size() == static_cast<size_t>(seqs) * max_blocks_per_seq,
               "step batch: block_tables has {} entries, expected {} x {}", block_tables.size(), seqs,
               max_blocks_per_seq);
  for (int32_t r : logits_rows)
    HEARTH_CHECK(r >= 0 && r < tokens, "step batch: logits row {} outside [0, {})", r, tokens);
}

}  // namespace hearth
