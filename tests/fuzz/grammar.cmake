# libFuzzer targets of hearth/grammar (included by tests/fuzz/CMakeLists.txt).
#   fuzz_grammar_compile: arbitrary text as a JSON Schema (or, when it is not JSON, as a regex),
#                         compiled and then driven by its own bytes; token masks are checked
#                         against accepting each token.
#   fuzz_grammar_match:   a fixed set of schemas driven by arbitrary bytes, with mask,
#                         rollback and jump-forward invariants.
# Run (>= 60 s each; -timeout=1 reports any input that takes over a second):
#   cmake --preset fuzz && ninja -C build-fuzz fuzz_grammar_compile fuzz_grammar_match
#   build-fuzz/bin/fuzz_grammar_compile -max_total_time=60 -timeout=1 -max_len=2048 \
#       -dict=build-fuzz/tests/fuzz/grammar.dict build-fuzz/tests/fuzz/fuzz_grammar_compile_corpus
#   build-fuzz/bin/fuzz_grammar_match -max_total_time=60 -timeout=1 build-fuzz/tests/fuzz/fuzz_grammar_match_corpus
foreach(t fuzz_grammar_compile fuzz_grammar_match)
  add_executable(${t} ${CMAKE_CURRENT_LIST_DIR}/${t}.cpp)
  target_link_libraries(${t} PRIVATE hearth_grammar hearth_warnings)
  target_link_options(${t} PRIVATE -fsanitize=fuzzer)
endforeach()

set(_gc ${CMAKE_CURRENT_BINARY_DIR}/fuzz_grammar_compile_corpus)
file(MAKE_DIRECTORY ${_gc})
file(WRITE ${_gc}/object.json [=[{"type":"object","properties":{"name":{"type":"string","maxLength":8},"age":{"type":"integer","minimum":0,"maximum":130},"tags":{"type":"array","items":{"enum":["a","b"]},"maxItems":3}},"required":["name"],"additionalProperties":false}]=])
file(WRITE ${_gc}/combinators.json [=[{"$defs":{"n":{"anyOf":[{"type":"null"},{"type":"object","properties":{"next":{"$ref":"#/$defs/n"}}}]}},"oneOf":[{"$ref":"#/$defs/n"},{"type":"string","pattern":"^[a-z]+$","not":{"enum":["x"]}}]}]=])
file(WRITE ${_gc}/formats.json [=[{"type":"array","prefixItems":[{"format":"date-time"},{"format":"ipv6"},{"format":"uri"},{"type":"number","exclusiveMinimum":0.5,"multipleOf":3}],"items":false}]=])
file(WRITE ${_gc}/patterns.json [=[{"patternProperties":{"^x-[0-9]{2}$":{"type":"boolean"}},"propertyNames":{"maxLength":5},"dependentRequired":{"a":["b"]},"minProperties":1}]=])
file(WRITE ${_gc}/conditional.json [=[{"type":"object","if":{"properties":{"k":{"enum":["a","b"]}},"required":["k"]},"then":{"required":["x"],"maxProperties":2},"else":{"not":{"required":["y"],"dependentRequired":{"z":["y"]}}},"dependentSchemas":{"q":{"properties":{"r":{"minLength":2}}}}}]=])
file(WRITE ${_gc}/unsat.json [=[{"allOf":[{"properties":{"a":{}},"additionalProperties":false},{"required":["b"],"minItems":3,"maxItems":2}]}]=])
file(WRITE ${_gc}/regex.txt [=[^(\d{3}-)?[A-Za-z_]\w*(\.[a-z]+)+$]=])

set(_gm ${CMAKE_CURRENT_BINARY_DIR}/fuzz_grammar_match_corpus)
file(MAKE_DIRECTORY ${_gm})
file(WRITE ${_gm}/a.bin [=[{"name":"x","age":3,"tags":["a"]}]=])
file(WRITE ${_gm}/b.bin [=[A{"k":{"k":null},"s":"\u00e9\ud83d\ude00"}]=])
file(WRITE ${_gm}/c.bin [=[B[1.5,-2e3,"2024-02-29",true]]=])

set(_words type properties required additionalProperties items prefixItems enum const anyOf oneOf allOf not
    "$ref" "$defs" definitions pattern patternProperties format minimum maximum exclusiveMinimum
    exclusiveMaximum multipleOf minLength maxLength minItems maxItems minProperties maxProperties
    propertyNames dependentRequired dependencies dependentSchemas if then else uniqueItems
    object array string integer number boolean null
    date date-time time duration email hostname ipv4 ipv6 uri uuid "#/$defs/")
set(_dict "")
foreach(w ${_words})
  string(APPEND _dict "\"\\\"${w}\\\"\"\n")
endforeach()
foreach(w "\\\\d" "\\\\w" "(?:" "{2,5}" "[^a-z]" "\\\\u00e9" "true" "false" "{}" "[]")
  string(APPEND _dict "\"${w}\"\n")
endforeach()
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/grammar.dict "${_dict}")
