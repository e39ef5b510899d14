-- Extra databases of the production profile (the image creates "knowledge").
CREATE DATABASE tracker OWNER citizenbot;
CREATE DATABASE channels OWNER citizenbot;
