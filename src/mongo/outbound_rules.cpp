#include "mongo/outbound_rules.hpp"

namespace outpost::mongo {

Result<OutboundAction> outbound_action(Txn& txn, DynamicBox& box, const ObjectChange& c) {
    if (c.kind == ObjectChange::kRemove) return OutboundAction::kDelete;
    OUTPOST_ASSIGN_OR_RETURN(auto id, local_id_of(txn, box, c.gid));
    if (!id) return OutboundAction::kSkip;
    OUTPOST_ASSIGN_OR_RETURN(bool held, box.contains(txn, *id));
    if (!held) return OutboundAction::kSkip;
    return c.is_new ? OutboundAction::kUpsert : OutboundAction::kUpdate;
}

}  // namespace outpost::mongo
