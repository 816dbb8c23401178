# quarry_add_plugin(NAME SOURCES src... [LINK lib...])
# Builds a Quarry plugin: a MODULE library that links only the SDK. Used in-tree
# and, through the installed Quarry package, by out-of-tree plugins.
function(quarry_add_plugin name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LINK" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "quarry_add_plugin(${name}): SOURCES is required")
  endif()
  add_library(${name} MODULE ${ARG_SOURCES})
  if(TARGET Quarry::sdk)
    target_link_libraries(${name} PRIVATE Quarry::sdk ${ARG_LINK})
  else()
    target_link_libraries(${name} PRIVATE quarry_sdk ${ARG_LINK})
  endif()
  set_target_properties(${name} PROPERTIES PREFIX "" CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON
                                           INSTALL_RPATH_USE_LINK_PATH TRUE)
  if(QUARRY_PLUGIN_OUTPUT_DIR)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${QUARRY_PLUGIN_OUTPUT_DIR})
  endif()
  # In-tree builds precompile LibTorch's headers once for every plugin (plugins/CMakeLists.txt).
  if(TARGET quarry_plugin_pch)
    target_precompile_headers(${name} REUSE_FROM quarry_plugin_pch)
  endif()
  # In-tree plugins are recorded so the tests can depend on all of them.
  set_property(GLOBAL APPEND PROPERTY QUARRY_PLUGIN_TARGETS ${name})
  if(QUARRY_INSTALL_PLUGINS)
    install(TARGETS ${name} LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/quarry/plugins)
  endif()
endfunction()
