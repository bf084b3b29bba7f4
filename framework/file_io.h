// file_io.h - how trim reads and writes whole files, in one place for every tool and library:
//  - every input file is checked to be a regular file first (a FIFO or a device would block or
//    read forever; a directory reads as nothing), with an error naming the path;
//  - every output is written to <path>.tmp and renamed, so a killed writer never leaves a torn
//    file; a .tmp left by a killed writer is replaced by the next write (one writer per path);
//  - "is this output my input?" is asked of the file system (device + inode), never of the
//    spelling of the path (runs/x/../x/a.model and a hard link are the same file).
#pragma once

#include <string>

namespace trim {

// Throws Error naming `path` (and `what` it is, e.g. "weights file") unless it names an existing
// regular file (symbolic links are followed).
void require_regular_file(const std::string& path, const std::string& what = "input file");

std::string read_file(const std::string& path);  // throws Error naming the path
void write_file_atomic(const std::string& path, const std::string& bytes);
std::string temp_path_for(const std::string& path);  // where write_file_atomic writes first

// True when both paths exist and name the same file (same device and inode).
bool same_file(const std::string& a, const std::string& b);

// Throws Error when writing `output` would replace `input` (both exist and are the same file).
// `role` names the output in the message ("--out", "[output] folder").
void refuse_overwrite(const std::string& input, const std::string& output, const std::string& role);

}  // namespace trim
