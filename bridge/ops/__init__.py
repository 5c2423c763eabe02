"""Operations: slot tools, doctor, HA lock, lost-slot recovery."""
