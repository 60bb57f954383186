-- The Car Rental demo data: a few cars and bookings (what the digest checks compare).
CREATE TABLE IF NOT EXISTS cars (id int PRIMARY KEY, plate text NOT NULL, model text NOT NULL);
CREATE TABLE IF NOT EXISTS bookings (id int PRIMARY KEY, car_id int REFERENCES cars(id), customer text NOT NULL, starts date NOT NULL);
TRUNCATE bookings, cars;
INSERT INTO cars VALUES (1, '51A-123.45', 'Toyota Vios'), (2, '51B-678.90', 'Honda City'), (3, '30E-111.22', 'VinFast VF5');
INSERT INTO bookings VALUES (1, 1, 'Nguyen Van A', '2026-12-01'), (2, 3, 'Tran Thi B', '2026-12-05');
