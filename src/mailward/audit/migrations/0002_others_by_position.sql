-- The incident report reads a window (a range of positions) for the records of
-- someone other than the owner acting: a few among many. This index finds them
-- without reading the rest of the window; like audit_by_others it holds only
-- those records, so ordinary traffic (deliveries, owners' own reads) adds nothing.
CREATE INDEX audit_others_by_pos ON audit_log (pos) WHERE others_owner IS NOT NULL;
