// The engine under test: Outpost through the typed API (Box<BenchObject>, TypedQuery<BenchObject>).
#include <optional>

#include "outpost/query.hpp"
#include "store/engine.hpp"

namespace outpost::bench {

Model bench_model(bool synced, bool indexed) {
    ModelBuilder b;
    b.entity("BenchObject")
        .sync(synced)
        .property("id", PropertyType::kInt64, kFlagId)
        .property("counter", PropertyType::kInt64)
        .property("score", PropertyType::kDouble)
        .property("text", PropertyType::kString)
        .property("created", PropertyType::kDate)
        .property("category", PropertyType::kInt64, indexed ? kFlagIndexed : 0u);
    auto model = b.build();
    if (!model) fail("model", model.status().to_string());
    return std::move(model).value();
}

namespace {

void check(const Status& st, std::string_view what) {
    if (!st.is_ok()) fail(what, st.to_string());
}

template <typename T>
T take(Result<T> r, std::string_view what) {
    if (!r) fail(what, r.status().to_string());
    return std::move(r).value();
}

class OutpostEngine : public Engine {
  public:
    OutpostEngine(bool synced, bool verify_objects)
        : synced_(synced), verify_objects_(verify_objects) {}
    std::string_view name() const override { return synced_ ? "outpost_synced" : "outpost"; }

    void open(const std::string& dir) override { open_store(dir, false); }

    void close() override {
        query_.reset();
        box_.reset();
        store_.reset();
    }

    void put(std::vector<BenchObject>& objects, size_t batch) override {
        for (size_t i = 0; i < objects.size(); i += batch) {
            WriteTxn txn = take(store_->begin_write(), "begin write");
            for (size_t j = i; j < std::min(objects.size(), i + batch); ++j) {
                objects[j].id = 0;
                take(box_->put(txn, objects[j]), "put");
            }
            check(txn.commit(), "commit");
        }
    }

    void get(std::span<const uint64_t> ids, size_t batch, Checksum& sum) override {
        for (size_t i = 0; i < ids.size(); i += batch) {
            ReadTxn txn = take(store_->begin_read(), "begin read");
            for (size_t j = i; j < std::min(ids.size(), i + batch); ++j) {
                auto o = take(box_->get(txn, ids[j]), "get");
                if (!o) fail("get", "object " + std::to_string(ids[j]) + " is missing");
                sum.add(*o);
            }
        }
    }

    void update(std::span<const uint64_t> ids, size_t batch) override {
        for (size_t i = 0; i < ids.size(); i += batch) {
            WriteTxn txn = take(store_->begin_write(), "begin write");
            for (size_t j = i; j < std::min(ids.size(), i + batch); ++j) {
                auto o = take(box_->get(txn, ids[j]), "get");
                if (!o) fail("update", "object " + std::to_string(ids[j]) + " is missing");
                o->counter += 1;
                take(box_->put(txn, *o), "put");
            }
            check(txn.commit(), "commit");
        }
    }

    void scan(Checksum& sum) override {
        ReadTxn txn = take(store_->begin_read(), "begin read");
        auto all = take(box_->get_all(txn), "get_all");
        for (const auto& o : all) sum.add(o);
    }

    void remove(std::span<const uint64_t> ids, size_t batch) override {
        for (size_t i = 0; i < ids.size(); i += batch) {
            WriteTxn txn = take(store_->begin_write(), "begin write");
            size_t n = std::min(ids.size() - i, batch);
            uint64_t removed = take(box_->remove_many(txn, ids.subspan(i, n)), "remove_many");
            if (removed != n) fail("remove", "removed fewer objects than asked");
            check(txn.commit(), "commit");
        }
    }

    uint64_t count() override { return take(box_->count(), "count"); }

    uint64_t used_bytes() override { return take(store_->stats(), "stats").used_bytes; }

    bool has_queries() const override { return true; }

    // Reopens the store with the indexed model (the store builds the index from its objects), then
    // builds the query once; query_category only sets its parameter and runs it.
    void add_category_index() override {
        close();
        open_store(dir_, true);
        auto q = take(QueryBuilder(box_->dynamic()).where("category == $category").build(),
                      "building the query");
        if (q.explain().find("index BenchObject.category") == std::string::npos)
            fail("query plan", "the index on category is not used: " + q.explain());
        query_.emplace(*box_, std::move(q));
    }

    void query_category(std::span<const int64_t> categories, size_t batch, Checksum& sum) override {
        for (size_t i = 0; i < categories.size(); i += batch) {
            ReadTxn txn = take(store_->begin_read(), "begin read");
            for (size_t j = i; j < std::min(categories.size(), i + batch); ++j) {
                check(query_->query().set_parameter("category", Value(categories[j])),
                      "set_parameter");
                for (const auto& o : take(query_->find(txn), "find")) sum.add(o);
            }
        }
    }

  private:
    void open_store(const std::string& dir, bool indexed) {
        StoreOptions options;
        options.no_sync = true;
        options.verify_objects = verify_objects_;
        dir_ = dir;
        store_ = take(Store::open(dir, bench_model(synced_, indexed), options), "opening store");
        box_.emplace(store_);
        check(box_->status(), "binding BenchObject");
    }

    bool synced_;
    bool verify_objects_;
    std::string dir_;
    std::shared_ptr<Store> store_;
    std::optional<Box<BenchObject>> box_;
    std::optional<TypedQuery<BenchObject>> query_;
};

}  // namespace

std::unique_ptr<Engine> make_outpost_engine(bool synced, bool verify_objects) {
    return std::make_unique<OutpostEngine>(synced, verify_objects);
}

}  // namespace outpost::bench
