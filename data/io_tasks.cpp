// The tasks of dataset sinks.
#include <manta/data/io.h>
#include <manta/manta.h>

namespace manta::data::detail {

std::uint64_t write_hdf5_block(Hdf5Args args, BlockBytes block) {
  const std::uint64_t row_bytes = args.layout().row_bytes();
  if (block.size() != args.count * row_bytes) {
    throw OperatorError("WriteHDF5 block at row " + std::to_string(args.first) + ": " +
                        std::to_string(block.size()) + " bytes for " + std::to_string(args.count) +
                        " rows of " + std::to_string(row_bytes) + " bytes");
  }
  files::hdf5_write_rows(args.layout(), args.first, args.count, block.data());
  return args.count;
}

}  // namespace manta::data::detail

MANTA_REMOTE(manta::data::detail::write_hdf5_block);
