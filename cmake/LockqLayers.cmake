# The layer rule, enforced by the compiler (docs/architecture.md "Layers").
#
# Sources include headers by folder: "sm/command.h", "resp/resp.h". With one
# include path for the whole tree (src/), any library could include any
# other's headers. Instead each library gets its own include root in the
# build tree that holds only its folder, as a symlink:
#
#   build/layers/sm/sm -> src/sm        lockq_sm: PUBLIC build/layers/sm
#
# and sees other folders only through the libraries it links (PUBLIC include
# directories travel with target_link_libraries). So lockq_resp, which links
# lockq_common alone, fails to compile an #include "sm/...". Bazel's
# include_prefix (_virtual_includes) works the same way.
#
# What this cannot catch, tests/unit/layers_check.py does: system headers
# (<uv.h>, <raft.h> live in /usr/include, visible to everyone), the public
# include/lockq folder (one folder, seen by all through lockq_common), and
# folders a library links for one reason and includes for another.
#
# A new library (lockq_net, lockq_dispatch, ...) calls
#   lockq_layer_headers(lockq_net net)
# and links, PUBLIC, the libraries its headers include.
function(lockq_layer_headers target folder)
  set(root ${PROJECT_BINARY_DIR}/layers/${folder})
  if(NOT IS_SYMLINK ${root}/${folder})
    file(MAKE_DIRECTORY ${root})
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/src/${folder} ${root}/${folder} SYMBOLIC)
  endif()
  target_include_directories(${target} PUBLIC $<BUILD_INTERFACE:${root}>)
endfunction()
