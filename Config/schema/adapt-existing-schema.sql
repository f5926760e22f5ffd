-- Example: adapting an existing shop database to escalator through views, without changing its tables.
-- The shop keeps tickets in `tickets`, messages in `ticket_messages` and users in `users`. The views rename
-- and translate; escalator's source section then reads the views (see docs/sources.md).

CREATE VIEW escalator_cases AS
SELECT t.ticket_no                          AS id,
       CASE t.type WHEN 'C' THEN 'custom-order' WHEN 'R' THEN 'repair' ELSE 'standard' END AS kind,
       lower(t.state)                       AS status,
       u.login                              AS owner,
       t.created                            AS opened_at,
       t.due_date                           AS promised_at,
       t.finished                           AS closed_at,
       t.last_modified                      AS updated_at
FROM tickets t
LEFT JOIN users u ON u.user_id = t.assignee_id;

CREATE VIEW escalator_activity AS
SELECT 'm' || m.message_id                  AS id,
       t.ticket_no                          AS order_id,
       CASE m.direction WHEN 'in' THEN 'customer_message' WHEN 'out' THEN 'customer_update' ELSE 'internal_update' END AS kind,
       m.sent_at                            AS at,
       m.author                             AS actor,
       left(m.subject, 200)                 AS text
FROM ticket_messages m
JOIN tickets t ON t.ticket_id = m.ticket_id;

CREATE VIEW escalator_staff AS
SELECT login AS id, full_name AS name, email, (SELECT login FROM users b WHERE b.user_id = u.boss_id) AS supervisor
FROM users u
WHERE active;
