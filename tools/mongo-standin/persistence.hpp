// Write-ahead log for --dbpath. Format (docs/mongo-standin.md has the details):
//   meta.bson  {epoch: Int64, term: Int64}; rewritten at each start with term + 1.
//   wal.log    records of [uint32 length][uint32 crc32c(payload)][payload BSON
//              {ts: Timestamp, ops: [...]}]; one record per command or commit, fdatasync'ed
//              before the reply is sent. A torn record at the tail is cut off on replay.
// At open the log is replayed into the Engine and then rewritten compactly (a snapshot of the
// collections, indexes and retained events), so it does not grow across restarts.
#pragma once

#include <memory>
#include <string>

#include "engine.hpp"

namespace standin {

class Persistence {
  public:
    // Opens (creating if needed) the data directory and replays it into `e`.
    static Result<std::unique_ptr<Persistence>> open(const std::string& dir, Engine& e);
    ~Persistence();

    void log_create(const Collection& c);
    void log_drop(const std::string& db, const std::string& coll);
    // The collection's options changed (collMod): validator, view definition.
    void log_options(const Collection& c);
    void log_rename(const std::string& db, const std::string& coll, const std::string& to_db,
                    const std::string& to_coll);
    void log_index(const std::string& db, const std::string& coll, const IndexSpec& idx);
    void log_drop_index(const std::string& db, const std::string& coll, const std::string& name);
    void log_put(const std::string& db, const std::string& coll, const DocPtr& doc);
    void log_delete(const std::string& db, const std::string& coll, const bson_t* id_doc);
    void log_event(const Event& ev);

    // Appends the buffered operations as one record and syncs it to disk. No-op when empty.
    Status flush();
    bool pending() const { return nops_ > 0; }
    void add_op(const Doc& op);

  private:
    Persistence(std::string dir, Engine& e) : dir_(std::move(dir)), engine_(e) {}
    Status replay();
    Status rewrite();
    Status write_meta();

    std::string dir_;
    Engine& engine_;
    int fd_ = -1;
    Doc ops_;
    size_t nops_ = 0;
};

}  // namespace standin
