# libFuzzer target of the serving bench's parsers (included by tests/fuzz/CMakeLists.txt).
#   fuzz_http_stream: chunked decoding and SSE split at any point decode as whole; the stream
#                     recorder, response-head and URL parsers throw only hearth::Error.
# Run (>= 60 s):
#   cmake --preset fuzz && ninja -C build-fuzz fuzz_http_stream
#   build-fuzz/bin/fuzz_http_stream -max_total_time=60 -timeout=1 build-fuzz/tests/fuzz/fuzz_http_stream_corpus
add_executable(fuzz_http_stream ${CMAKE_CURRENT_LIST_DIR}/fuzz_http_stream.cpp
  ${PROJECT_SOURCE_DIR}/bench/http_stream.cpp ${PROJECT_SOURCE_DIR}/bench/http_client.cpp
  ${PROJECT_SOURCE_DIR}/bench/serve_bench.cpp)
target_include_directories(fuzz_http_stream PRIVATE ${PROJECT_SOURCE_DIR}/bench)
target_link_libraries(fuzz_http_stream PRIVATE hearth_core nlohmann_json::nlohmann_json hearth_warnings)
target_link_options(fuzz_http_stream PRIVATE -fsanitize=fuzzer)

set(_hs ${CMAKE_CURRENT_BINARY_DIR}/fuzz_http_stream_corpus)
file(MAKE_DIRECTORY ${_hs})
file(WRITE ${_hs}/chunked.bin "G5\r\nhello\r\n18;x=y\r\ndata: {\"choices\":[]}\r\n\r\n\r\n0\r\nT: v\r\n\r\n")
file(WRITE ${_hs}/sse.bin " : ping\r\n\r\ndata: {\"choices\":[{\"text\":\"a\",\"finish_reason\":null}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\r\rdata: [DONE]\n\n")
file(WRITE ${_hs}/head.bin "@HTTP/1.1 400 Bad\r\nContent-Type: application/json\r\n\r\n{\"error\":{\"message\":\"m\"}}")
