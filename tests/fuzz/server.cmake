# libFuzzer targets of hearth/server (included by tests/fuzz/CMakeLists.txt). They compile
# the parsers' sources directly so that the fuzz build does not need the engine.
#   fuzz_server_request: client bytes -> HTTP/1.1 parser (in input-chosen pieces) -> JSON body
#                        check -> chat / completion request parsers; output parser and stop
#                        strings must not depend on how text is split.
#   fuzz_server_config:  config.yaml text -> the inference: section loader.
# Run (>= 60 s each):
#   cmake --preset fuzz && ninja -C build-fuzz fuzz_server_request fuzz_server_config
#   build-fuzz/bin/fuzz_server_request -max_total_time=60 -timeout=1 -max_len=8192 \
#       -dict=build-fuzz/tests/fuzz/server.dict build-fuzz/tests/fuzz/fuzz_server_request_corpus
#   build-fuzz/bin/fuzz_server_config -max_total_time=60 -timeout=1 build-fuzz/tests/fuzz/fuzz_server_config_corpus
find_package(yaml-cpp REQUIRED)
set(_srv ${PROJECT_SOURCE_DIR}/src/hearth/server)
add_executable(fuzz_server_request ${CMAKE_CURRENT_LIST_DIR}/fuzz_server_request.cpp ${_srv}/http_parser.cpp
  ${_srv}/openai_request.cpp ${_srv}/api_error.cpp ${_srv}/output_parser.cpp)
target_link_libraries(fuzz_server_request PRIVATE hearth_core nlohmann_json::nlohmann_json hearth_warnings)
add_executable(fuzz_server_config ${CMAKE_CURRENT_LIST_DIR}/fuzz_server_config.cpp ${_srv}/config_yaml.cpp)
target_link_libraries(fuzz_server_config PRIVATE hearth_core yaml-cpp nlohmann_json::nlohmann_json hearth_warnings)
foreach(t fuzz_server_request fuzz_server_config)
  target_include_directories(${t} PRIVATE ${PROJECT_SOURCE_DIR}/include)
  target_link_options(${t} PRIVATE -fsanitize=fuzzer)
endforeach()

set(_sr ${CMAKE_CURRENT_BINARY_DIR}/fuzz_server_request_corpus)
file(MAKE_DIRECTORY ${_sr})
file(WRITE ${_sr}/chat.http "&POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 185\r\n\r\n{\"model\": \"m\", \"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\", \"text\": \"hi\"}]}], \"max_tokens\": 4, \"stop\": [\"x\"], \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\"}}]}")
file(WRITE ${_sr}/chunked.http "#POST /v1/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"prompt\": [1,2]\r\n1\r\n}\r\n0\r\n\r\nGET /health HTTP/1.1\r\n\r\n")
file(WRITE ${_sr}/output.txt " <think>\nr\n</think>\n\ncontent <tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": [1]}}\n</tool_call>")
file(WRITE ${_sr}/format.json "A{\"messages\": [{\"role\": \"assistant\", \"tool_calls\": [{\"function\": {\"name\": \"f\", \"arguments\": \"{}\"}}]}], \"response_format\": {\"type\": \"json_schema\", \"json_schema\": {\"schema\": {\"type\": \"object\"}}}, \"tool_choice\": {\"type\": \"function\", \"function\": {\"name\": \"f\"}}, \"logprobs\": true, \"top_logprobs\": 2, \"stream\": true, \"stream_options\": {\"include_usage\": true}}")
set(_dict "")
foreach(w "\\x0D\\x0A" "HTTP/1.1" "Content-Length: " "Transfer-Encoding: chunked" "Expect: 100-continue" "Connection: close"
          "<think>" "</think>" "<tool_call>" "</tool_call>" "\\\"messages\\\"" "\\\"role\\\"" "\\\"content\\\""
          "\\\"prompt\\\"" "\\\"tools\\\"" "\\\"tool_choice\\\"" "\\\"response_format\\\"" "\\\"json_schema\\\""
          "\\\"max_tokens\\\"" "\\\"stop\\\"" "\\\"n\\\"" "\\\"logprobs\\\"" "\\\"top_logprobs\\\"" "\\\"stream\\\""
          "\\\"arguments\\\"" "\\\"name\\\"" "\\\"function\\\"" "\\\"assistant\\\"" "\\\"tool\\\"" "null" "true")
  string(APPEND _dict "\"${w}\"\n")
endforeach()
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/server.dict "${_dict}")

set(_sc ${CMAKE_CURRENT_BINARY_DIR}/fuzz_server_config_corpus)
file(MAKE_DIRECTORY ${_sc})
file(WRITE ${_sc}/full.yaml "inference:\n  model: /m\n  quantization: null\n  dtype: bfloat16\n  max_model_len: 8192\n  gpu_memory_utilization: 0.9\n  max_num_seqs: 64\n  max_batch_size: 64\n  max_num_batched_tokens: 16384\n  enable_prefix_caching: true\n  enable_chunked_prefill: true\n  enforce_eager: false\n  max_tokens: 512\n  temperature: 0.7\n  power_limit: 250\n  attention_backend: auto\n")
file(WRITE ${_sc}/flow.yaml "{inference: {model: [a, {b: c}], max_num_seqs: &x 3, max_batch_size: *x}}")
