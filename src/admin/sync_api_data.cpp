// SyncApi, the data browser: objects of one entity listed with a query, read, written and removed.
#include <nlohmann/json.hpp>

#include "admin/sync_api.hpp"
#include "admin/sync_api_internal.hpp"
#include "outpost/json.hpp"
#include "outpost/query.hpp"
#include "sync/sync_server.hpp"

namespace outpost::admin {

using namespace sync_api;

namespace {

// A response whose body is the object JSON of OBJECT.
Response object_response(int status, const Object& object) {
    Response r;
    r.status = status;
    r.body = object_to_json(object);
    return r;
}

// Whether the query parameter `desc` asks for descending order; nullopt (ERROR set) when it is
// neither a yes nor a no.
std::optional<bool> desc_param(const Request& request, Response& error) {
    auto it = request.query.find("desc");
    if (it == request.query.end()) return false;
    const std::string& v = it->second;
    if (v.empty() || v == "0" || v == "false") return false;
    if (v == "1" || v == "true") return true;
    error = error_response(400, "desc: expected 1, true, 0 or false, not " + v);
    return std::nullopt;
}

}  // namespace

Response SyncApi::objects(const Request& request) {
    const auto& seg = request.segments;
    if (seg.size() < 4 || seg.size() > 5 || seg[3] != "objects") {
        return error_response(404, "no such path: " + request.path);
    }
    const std::string& entity = seg[2];
    if (!store_->model().entity(entity)) return error_response(404, "no entity " + entity);
    const std::string& m = request.method;
    if (seg.size() == 4) {
        if (m == "GET") return list_objects(request, entity);
        if (m == "POST") return create_object(entity, request.body);
        Response r = error_response(405, m + " is not allowed on " + request.path);
        r.headers.emplace_back("Allow", "GET, POST");
        return r;
    }
    auto id = parse_u64(seg[4]);
    if (!id || *id == 0) return error_response(404, entity + " has no object " + seg[4]);
    if (m == "GET") return get_object(entity, *id);
    if (m == "PUT") return put_object(entity, *id, request.body);
    if (m == "DELETE") return delete_object(entity, *id);
    Response r = error_response(405, m + " is not allowed on " + request.path);
    r.headers.emplace_back("Allow", "GET, PUT, DELETE");
    return r;
}

Response SyncApi::list_objects(const Request& request, const std::string& entity) {
    Response bad;
    auto offset = u64_param(request, "offset", 0, bad);
    if (!offset) return bad;
    auto limit = limit_param(request, bad);
    if (!limit) return bad;
    auto desc = desc_param(request, bad);
    if (!desc) return bad;
    auto box = store_->box(entity);
    if (!box) return store_error(box.status());
    // The page, and the count of every match (without the order: it does not change the count).
    QueryBuilder b(*box);
    if (auto w = request.query.find("where"); w != request.query.end() && !w->second.empty()) {
        b.where(w->second);
    }
    auto counting = b.build();
    if (!counting) return store_error(counting.status());
    if (auto o = request.query.find("order"); o != request.query.end() && !o->second.empty()) {
        b.order(o->second, *desc ? uint32_t{kOrderDescending} : 0u);
    }
    b.offset(*offset).limit(*limit);
    auto query = b.build();
    if (!query) return store_error(query.status());
    auto txn = store_->begin_read();
    if (!txn) return store_error(txn.status());
    auto found = query->find(*txn);
    if (!found) return store_error(found.status());
    auto total = counting->count(*txn);
    if (!total) return store_error(total.status());
    txn->close();
    // The items are object JSON as the store writes it, spliced in as they are.
    nlohmann::json head = {
        {"entity", entity}, {"total", *total}, {"offset", *offset}, {"limit", *limit}};
    std::string body = head.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    body.pop_back();  // the closing brace
    body += ",\"items\":[";
    for (size_t i = 0; i < found->size(); ++i) {
        if (i != 0) body += ',';
        body += object_to_json((*found)[i]);
    }
    body += "]}";
    Response r;
    r.body = std::move(body);
    return r;
}

Response SyncApi::get_object(const std::string& entity, uint64_t id) {
    auto box = store_->box(entity);
    if (!box) return store_error(box.status());
    auto txn = store_->begin_read();
    if (!txn) return store_error(txn.status());
    auto object = box->get(*txn, id);
    if (!object) return store_error(object.status());
    if (!*object) return error_response(404, entity + " has no object " + std::to_string(id));
    return object_response(200, **object);
}

Response SyncApi::put_object(const std::string& entity, uint64_t id, const std::string& body) {
    auto box = store_->box(entity);
    if (!box) return store_error(box.status());
    auto txn = store_->begin_write();
    if (!txn) return store_error(txn.status());
    txn->set_origin(kOrigin);
    auto existing = box->get(*txn, id);
    if (!existing) return store_error(existing.status());
    if (!*existing) return error_response(404, entity + " has no object " + std::to_string(id));
    // The properties the body names change; the others keep their values.
    Object object = std::move(**existing);
    if (Status st = object_update_from_json(object, body); !st) return store_error(st);
    if (object.id != id) {
        return error_response(400, "the body's id " + std::to_string(object.id) +
                                       " is not the path's " + std::to_string(id));
    }
    auto put = box->put(*txn, object, PutMode::kUpdate);
    if (!put) return store_error(put.status());
    auto stored = box->get(*txn, id);
    if (!stored) return store_error(stored.status());
    if (!*stored) return error_response(500, entity + ": the object written is not there");
    if (Status st = txn->commit(); !st) return store_error(st);
    if (server_) server_->notify_store_changed();
    return object_response(200, **stored);
}

Response SyncApi::create_object(const std::string& entity, const std::string& body) {
    auto box = store_->box(entity);
    if (!box) return store_error(box.status());
    Object object = box->new_object();
    if (Status st = object_update_from_json(object, body); !st) return store_error(st);
    if (object.id != 0) {
        return error_response(400, "a new object gets its id from the store: leave \"id\" out");
    }
    auto txn = store_->begin_write();
    if (!txn) return store_error(txn.status());
    txn->set_origin(kOrigin);
    auto id = box->put(*txn, object, PutMode::kInsert);
    if (!id) return store_error(id.status());
    auto stored = box->get(*txn, *id);
    if (!stored) return store_error(stored.status());
    if (!*stored) return error_response(500, entity + ": the object written is not there");
    if (Status st = txn->commit(); !st) return store_error(st);
    if (server_) server_->notify_store_changed();
    return object_response(201, **stored);
}

Response SyncApi::delete_object(const std::string& entity, uint64_t id) {
    auto box = store_->box(entity);
    if (!box) return store_error(box.status());
    auto txn = store_->begin_write();
    if (!txn) return store_error(txn.status());
    txn->set_origin(kOrigin);
    auto removed = box->remove(*txn, id);
    if (!removed) return store_error(removed.status());
    if (!*removed) return error_response(404, entity + " has no object " + std::to_string(id));
    if (Status st = txn->commit(); !st) return store_error(st);
    if (server_) server_->notify_store_changed();
    Response r;
    r.status = 204;
    return r;
}

}  // namespace outpost::admin
