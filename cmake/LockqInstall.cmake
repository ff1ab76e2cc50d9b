# `cmake --install` for liblockq (issue 6; docs/client-install.md):
#   include/lockq/*.h                 the public headers, nothing else
#   lib/liblockq_{client,resp,tls,common}.a
#   lib/cmake/lockq/                  find_package(lockq) -> lockq::client
#   lib/pkgconfig/lockq.pc            pkg-config --cflags --libs lockq
#   bin/lockqd, bin/lockq             the server and the CLI
# The client is static and is built on two internal static libraries (the
# RESP codec and Status), so those are installed and exported too; their
# headers are not: nothing in include/lockq includes them.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(LOCKQ_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/lockq)

# In the build tree each library has its own include root
# (cmake/LockqLayers.cmake, BUILD_INTERFACE only, not exported); consumers of
# the installed package get <prefix>/include.
# The headers use C++20 (Reply's defaulted operator==), so the requirement
# travels with the target.
target_include_directories(lockq_client PUBLIC
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_compile_features(lockq_client PUBLIC cxx_std_20)
set_target_properties(lockq_client PROPERTIES EXPORT_NAME client)
set_target_properties(lockq_resp PROPERTIES EXPORT_NAME resp)
set_target_properties(lockq_common PROPERTIES EXPORT_NAME common)
set_target_properties(lockq_tls PROPERTIES EXPORT_NAME tls)

install(TARGETS lockq_client lockq_resp lockq_tls lockq_common
        EXPORT lockqTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/lockq
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h")
install(EXPORT lockqTargets
        NAMESPACE lockq::
        DESTINATION ${LOCKQ_CMAKE_DIR})

configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/lockqConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cmake/lockqConfig.cmake
  INSTALL_DESTINATION ${LOCKQ_CMAKE_DIR})
# 0.x: a new minor version may change the API.
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/cmake/lockqConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/cmake/lockqConfig.cmake
              ${PROJECT_BINARY_DIR}/cmake/lockqConfigVersion.cmake
        DESTINATION ${LOCKQ_CMAKE_DIR})

# lockq.pc is written at install time, so its prefix is the one given to
# `cmake --install --prefix` rather than the one configured.
install(CODE "
  set(LOCKQ_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  set(CMAKE_INSTALL_LIBDIR \"${CMAKE_INSTALL_LIBDIR}\")
  set(CMAKE_INSTALL_INCLUDEDIR \"${CMAKE_INSTALL_INCLUDEDIR}\")
  set(PROJECT_VERSION \"${PROJECT_VERSION}\")
  configure_file(\"${PROJECT_SOURCE_DIR}/cmake/lockq.pc.in\"
                 \"${PROJECT_BINARY_DIR}/pkgconfig/lockq.pc\" @ONLY)")
install(FILES ${PROJECT_BINARY_DIR}/pkgconfig/lockq.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# The binaries, for a complete install (they are not part of the package
# config: nothing links them).
foreach(tool lockqd lockq)
  if(TARGET ${tool})
    install(TARGETS ${tool} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  endif()
endforeach()

# Everything the rules above install, for a test that installs (ctest does
# not build): tests/install/install_examples_test.sh.
add_custom_target(lockq_installables)
add_dependencies(lockq_installables lockq_client lockq_resp lockq_tls lockq_common)
foreach(tool lockqd lockq)
  if(TARGET ${tool})
    add_dependencies(lockq_installables ${tool})
  endif()
endforeach()
