#pragma once
// The library's way to the internals behind the public handles (Store, Txn, DynamicBox,
// ObjectReader, ObjectWriter, Condition, Query). The public headers only declare detail::Access and
// make it a friend; it is defined here, in no public header, so an app cannot reach a StoreImpl or
// a TxnState through them.

#include <memory>
#include <utility>

#include "outpost/query.hpp"
#include "outpost/store.hpp"

namespace outpost::detail {

struct Access {
    // ---- stores and transactions ----
    static StoreImpl* impl(Store& store) { return store.impl_.get(); }
    static const StoreImpl* impl(const Store& store) { return store.impl_.get(); }
    static std::shared_ptr<Store> make_store(std::shared_ptr<StoreImpl> impl) {
        return std::shared_ptr<Store>(new Store(std::move(impl)));
    }
    // The transaction's state, or null when it is closed.
    static TxnState* state(Txn& txn) { return txn.state_.get(); }
    static ReadTxn make_read(std::unique_ptr<TxnState> state) { return ReadTxn(std::move(state)); }
    static WriteTxn make_write(std::unique_ptr<TxnState> state) {
        return WriteTxn(std::move(state));
    }

    // ---- boxes and objects ----
    static DynamicBox make_box(std::shared_ptr<Store> store, const EntityInfo* info) {
        return DynamicBox(std::move(store), info);
    }
    static const EntityInfo* info(const DynamicBox& box) { return box.info_; }
    static ObjectReader reader(const EntityInfo* info, const uint8_t* data, size_t size) {
        return ObjectReader(info, data, size);
    }
    static ObjectWriter writer(WriterState* state) { return ObjectWriter(state); }

    // ---- queries ----
    static Condition condition(std::shared_ptr<const CondNode> node) {
        return Condition(std::move(node));
    }
    static const std::shared_ptr<const CondNode>& node(const Condition& c) { return c.node(); }
    static Query make_query(
        std::unique_ptr<QueryImpl> impl);  // query_builder.cpp: QueryImpl is known there
};

}  // namespace outpost::detail
