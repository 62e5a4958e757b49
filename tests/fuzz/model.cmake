# libFuzzer targets of hearth/model (included by tests/fuzz/CMakeLists.txt).
#   fuzz_safetensors: arbitrary bytes as a safetensors file (header parser).
#   fuzz_config:      arbitrary text as config.json and generation_config.json.
# Seed corpora and dictionaries are written next to the binaries at configure time:
#   build-fuzz/tests/fuzz/{fuzz_config,fuzz_safetensors}_corpus/ and *.dict.
foreach(t fuzz_safetensors fuzz_config)
  add_executable(${t} ${CMAKE_CURRENT_LIST_DIR}/${t}.cpp)
  target_link_libraries(${t} PRIVATE hearth_model hearth_warnings)
  target_link_options(${t} PRIVATE -fsanitize=fuzzer)
endforeach()

set(_corpus ${CMAKE_CURRENT_BINARY_DIR}/fuzz_config_corpus)
file(MAKE_DIRECTORY ${_corpus})
file(WRITE ${_corpus}/hub.json [=[{"architectures": ["Qwen3ForCausalLM"], "attention_bias": false, "bos_token_id": 151643,
"eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu", "hidden_size": 1024, "intermediate_size": 3072,
"max_position_embeddings": 40960, "max_window_layers": 28, "model_type": "qwen3", "num_attention_heads": 16,
"num_hidden_layers": 28, "num_key_value_heads": 8, "rms_norm_eps": 1e-06,
"rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768},
"rope_theta": 1000000, "sliding_window": null, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
"use_sliding_window": false, "vocab_size": 151936}]=])
file(WRITE ${_corpus}/transformers5.json [=[{"architectures": ["Qwen3ForCausalLM"], "dtype": "float32",
"eos_token_id": [7, 9], "head_dim": 24, "hidden_size": 64, "intermediate_size": 96,
"layer_types": ["full_attention", "full_attention"], "max_position_embeddings": 512, "model_type": "qwen3",
"num_attention_heads": 4, "num_hidden_layers": 2, "num_key_value_heads": 2,
"rope_parameters": {"rope_theta": 250000.0, "rope_type": "default", "beta_fast": 16, "mscale": 1, "mscale_all_dim": 0.5},
"tie_word_embeddings": false, "vocab_size": 300}]=])
file(WRITE ${_corpus}/generation.json [=[{"bos_token_id": 151643, "do_sample": true, "eos_token_id": [151645, 151643],
"temperature": 0.6, "top_k": 20, "top_p": 0.95, "min_p": 0.0, "repetition_penalty": 1.05}]=])

set(_config_keys architectures model_type Qwen3ForCausalLM qwen3 vocab_size hidden_size intermediate_size
    num_hidden_layers num_attention_heads num_key_value_heads head_dim rms_norm_eps rope_theta rope_scaling
    rope_parameters rope_type type yarn default factor original_max_position_embeddings attention_factor
    beta_fast beta_slow mscale mscale_all_dim truncate partial_rotary_factor max_position_embeddings
    tie_word_embeddings attention_bias hidden_act silu torch_dtype dtype bfloat16 float16 float32
    eos_token_id bos_token_id layer_types full_attention sliding_attention use_sliding_window sliding_window
    max_window_layers temperature top_p top_k min_p repetition_penalty do_sample)
set(_dict "")
foreach(k ${_config_keys})
  string(APPEND _dict "\"\\\"${k}\\\"\"\n")
endforeach()
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/fuzz_config.dict "${_dict}")
set(_dict "")
foreach(k dtype shape data_offsets __metadata__ F32 F16 BF16 I64 U8 BOOL F8_E4M3 C64)
  string(APPEND _dict "\"\\\"${k}\\\"\"\n")
endforeach()
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/fuzz_safetensors.dict "${_dict}")

# fuzz_safetensors seeds in its text form "J<header>\n#<data size>" (see the harness).
set(_corpus ${CMAKE_CURRENT_BINARY_DIR}/fuzz_safetensors_corpus)
file(MAKE_DIRECTORY ${_corpus})
file(WRITE ${_corpus}/two_tensors.txt "J{\"a\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,12]},\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[12,28]}}\n#28")
file(WRITE ${_corpus}/metadata.txt "J{\"__metadata__\":{\"format\":\"pt\"},\"model.norm.weight\":{\"dtype\":\"F16\",\"shape\":[8],\"data_offsets\":[0,16]}}   \n#16")
file(WRITE ${_corpus}/empty_and_scalar.txt "J{\"e\":{\"dtype\":\"I64\",\"shape\":[0,5],\"data_offsets\":[0,0]},\"s\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,1]}}\n#1")
