# CMake blocks of the docs: parsed by cmake -P, never run.
if(FALSE)
# [snippet:find-package]
find_package(keel CONFIG REQUIRED COMPONENTS core)   # -DCMAKE_PREFIX_PATH=/opt/keel
target_link_libraries(app PRIVATE keel::core)
# [end]

# [snippet:components]
find_package(keel CONFIG REQUIRED COMPONENTS http pg_config)
target_link_libraries(app PRIVATE keel::http keel::pg_config)
# [end]

# [snippet:add-subdirectory]
add_subdirectory(third_party/keel)
target_link_libraries(app PRIVATE keel::core)
# [end]

endif()
