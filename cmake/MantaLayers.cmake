# Layers the build enforces (see DESIGN.md): each layer folder is a static library whose sources
# see only their own folder and the folders of the layers they link, so an include the wrong way
# ("engine/x.h" from transport/) does not compile.
#
# A layer's include root is a directory staged in the build tree, holding one link to its folder
# (build/layers/transport/transport -> transport/) and links to the few public headers it needs
# (build/layers/transport/manta/buffer.h). The source tree itself is never an include root, so
# "engine/x.h" cannot be found from it; layers that may use each other get each other's roots
# through target_link_libraries.

# manta_layer(NAME [PUBLIC_HEADERS header...]): the target manta_NAME for the folder NAME, with
# its staged include root. PUBLIC_HEADERS are paths under include/ (e.g. manta/buffer.h) the layer
# may include; a layer that may use the whole public API links that instead.
function(manta_layer name)
  cmake_parse_arguments(L "" "" "PUBLIC_HEADERS" ${ARGN})
  set(root ${PROJECT_BINARY_DIR}/layers/${name})
  file(MAKE_DIRECTORY ${root})
  file(CREATE_LINK ${PROJECT_SOURCE_DIR}/${name} ${root}/${name} SYMBOLIC)
  foreach(header ${L_PUBLIC_HEADERS})
    get_filename_component(dir ${root}/${header} DIRECTORY)
    file(MAKE_DIRECTORY ${dir})
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/include/${header} ${root}/${header} SYMBOLIC)
  endforeach()

  add_library(manta_${name} STATIC)
  set_target_properties(manta_${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  target_include_directories(manta_${name} PUBLIC $<BUILD_INTERFACE:${root}>)
  target_compile_features(manta_${name} PUBLIC cxx_std_20)
  target_link_libraries(manta_${name} PRIVATE manta_warnings)
endfunction()
