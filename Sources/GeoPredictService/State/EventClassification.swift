import GeoPredict
import GeoPredictProtos

extension UserHistories.EventKind {
    /// What `event` is against `catalogue`: a raw GPS fix (no store), a check-in at a store the
    /// catalogue has, or one at a store it does not have. Ingest refuses the last; replay keeps it as
    /// an event without a visit (it was logged against other data). The one classification both use.
    init(of event: Geopredict_V1_LocationEvent, in catalogue: StoreCatalogue) {
        if !event.hasStoreID {
            self = .rawFix
        } else if let store = catalogue.index(of: event.storeID) {
            self = .checkIn(store: Int32(store))
        } else {
            self = .checkInAtUnknownStore
        }
    }
}
