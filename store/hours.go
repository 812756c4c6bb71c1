package store

import "context"

// AppointmentTypeNames returns the names of a practice's appointment types by
// id, archived ones included (past and conflicting appointments still name
// them). The hours page lists the appointments new hours no longer cover.
func (db *DB) AppointmentTypeNames(ctx context.Context, practiceID string) (map[string]string, error) {
	rows, err := db.rq.QueryContext(ctx, "SELECT id, name FROM appointment_types WHERE practice_id = ?", practiceID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, err
		}
		out[id] = name
	}
	return out, rows.Err()
}
