-- The Liyaqa demo data: a gym's members (what the digest checks compare).
CREATE TABLE IF NOT EXISTS members (id int PRIMARY KEY, tenant text NOT NULL, name text NOT NULL);
TRUNCATE members;
INSERT INTO members VALUES (1, 'riyadh-fit', 'Ahmed'), (2, 'riyadh-fit', 'Sara'), (3, 'jeddah-gym', 'Omar');
