# libFuzzer targets of hearth/tokenizer (included by tests/fuzz/CMakeLists.txt).
#   fuzz_tokenizer:      arbitrary bytes encoded/decoded by the Qwen3 tokenizer from
#                        ../shared (or $HEARTH_TOKENIZER_DIR), and rendered as a conversation.
#   fuzz_tokenizer_json: arbitrary text as tokenizer.json (and as a chat template source).
# Seed corpora are written next to the binaries at configure time:
#   build-fuzz/tests/fuzz/{fuzz_tokenizer,fuzz_tokenizer_json}_corpus/.
foreach(t fuzz_tokenizer fuzz_tokenizer_json)
  add_executable(${t} ${CMAKE_CURRENT_LIST_DIR}/${t}.cpp)
  target_link_libraries(${t} PRIVATE hearth_tokenizer hearth_warnings)
  target_link_options(${t} PRIVATE -fsanitize=fuzzer)
endforeach()
target_compile_definitions(fuzz_tokenizer PRIVATE HEARTH_SHARED_DIR="${HEARTH_SHARED_DIR}")

set(_tok_corpus ${CMAKE_CURRENT_BINARY_DIR}/fuzz_tokenizer_corpus)
file(MAKE_DIRECTORY ${_tok_corpus})
file(WRITE ${_tok_corpus}/prose.txt "The quick brown fox, it's 3.14! We'll see.\r\n\n  done  ")
file(WRITE ${_tok_corpus}/special.txt "<|im_start|>user\nHi<|im_end|>\n<think>\n\n</think>\n\n<tool_call>")
file(WRITE ${_tok_corpus}/unicode.txt "Café 각 👨‍👩 ٣१ ſ 'S 　x ़ᫎ")
file(WRITE ${_tok_corpus}/chat.json [=[{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}, {"role": "assistant", "content": "<think>r</think>a", "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1.5}}}]}, {"role": "tool", "content": "o"}], "tools": [{"type": "function", "function": {"name": "f"}}]}]=])

set(_tj_corpus ${CMAKE_CURRENT_BINARY_DIR}/fuzz_tokenizer_json_corpus)
file(MAKE_DIRECTORY ${_tj_corpus})
file(WRITE ${_tj_corpus}/minimal.json [=[{"added_tokens": [{"id": 5, "content": "<x>", "special": true, "normalized": false}], "normalizer": {"type": "NFC"},
  "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
    {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}, "behavior": "Isolated", "invert": false},
    {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]},
  "post_processor": null, "decoder": {"type": "ByteLevel"},
  "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "\u0120": 3, "H": 4}, "merges": ["a b", ["\u0120", "a"]]}}]=])
file(WRITE ${_tj_corpus}/vocab_only.json [=[{"model": {"vocab": {"\u00c4\u00a2": 0, "x": 1}, "merges": []}, "decoder": {"type": "ByteLevel"}, "pre_tokenizer": null}]=])
