# CMake blocks of the docs: parsed by cmake -P, never run.
if(FALSE)
# [snippet:building-and-linking-2]
find_package(keel CONFIG REQUIRED COMPONENTS core)   # -DCMAKE_PREFIX_PATH=/opt/keel
target_link_libraries(app PRIVATE keel::core)
# [end]

# [snippet:building-and-linking-3]
add_subdirectory(third_party/keel)
target_link_libraries(app PRIVATE keel::core)
# [end]

endif()
